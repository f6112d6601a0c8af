/*
 * cmd_verify.c - keygate verify: the authorizer's decision for a key,
 * consuming nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "authz.h"
#include "cli.h"
#include "decision.h"

static void
print_decision(const struct authz_res *r)
{
	const struct decision_info *d = decision_info(r->verdict);
	struct json j;

	json_init(&j, stdout);
	json_obj_begin(&j);
	json_kv_int(&j, "status", d->status);
	json_key(&j, "allowed");
	json_bool(&j, r->verdict == V_ALLOW);
	if (r->verdict != V_ALLOW) {
		json_key(&j, "error");
		json_obj_begin(&j);
		json_kv_str(&j, "code", d->code, 0);
		json_kv_str(&j, "message", d->message, 0);
		json_obj_end(&j);
		json_kv_str(&j, "reason", r->reason, 0);
	}
	json_kv_str(&j, "key_id", r->key_id, 0);
	json_kv_str(&j, "key", r->display[0] ? r->display : NULL, 0);
	if (r->key_id != NULL)
		json_kv_str(&j, "key_mode", r->mode == MODE_TEST ? "test" : "live", 0);
	json_kv_str(&j, "org_id", r->org, 0);
	json_kv_str(&j, "plan", r->plan, 0);
	if (r->user != NULL)
		json_kv_str(&j, "user_id", r->user, 0);
	if (r->has_rate) {
		json_key(&j, "rate_limit");
		json_obj_begin(&j);
		json_kv_int(&j, "limit", r->rate.limit);
		json_key(&j, "remaining");
		json_uint(&j, r->rate.remaining);
		json_kv_int(&j, "reset", r->rate.reset_s);
		if (r->verdict == V_RATE)
			json_kv_int(&j, "retry_after", r->rate.retry_after_s);
		json_obj_end(&j);
	}
	if (r->has_quota) {
		json_key(&j, "quota");
		json_obj_begin(&j);
		json_key(&j, "limit");
		json_uint(&j, r->quota.limit);
		json_key(&j, "used");
		json_uint(&j, r->quota.used);
		json_key(&j, "remaining");
		json_uint(&j, r->quota.remaining);
		json_key(&j, "over_quota");
		json_bool(&j, r->quota.over);
		json_obj_end(&j);
	}
	json_obj_end(&j);
}

int
cmd_verify(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"method", 1, 0}, {"path", 1, 0}, {"host", 1, 0}, {NULL, 0, 0},
	};
	char key[APIKEY_MAX + 4];
	const char *keys[1] = {key};
	struct authz_req q;
	struct authz_res r;
	struct authz *az;
	struct args a;
	int code;

	c->cmd = "verify";
	if ((code = cli_parse(c, argc, argv, specs, 1, 1,
	    "verify KEY|- [--method GET] [--path /v1/x] [--host HOST]", &a)) != EX_OK)
		return code;
	/* "-" reads the key from stdin, so it stays out of ps and shell history */
	if (strcmp(a.pos[0], "-") == 0) {
		size_t n;
		if (fgets(key, sizeof key, stdin) == NULL)
			return cli_fail(EX_USAGE, "verify: no key on stdin");
		n = strcspn(key, "\r\n");
		key[n] = '\0';
	} else {
		snprintf(key, sizeof key, "%s", a.pos[0]);
	}
	if ((code = cli_open(c)) != EX_OK)
		goto out;
	if ((az = malloc(sizeof *az)) == NULL) {
		code = cli_fail(EX_STORE, "out of memory");
		goto out;
	}
	authz_init(az, &c->kg, NULL);
	memset(&q, 0, sizeof q);
	q.role = ROLE_AUTHORIZER;
	q.x_api_key = keys;
	q.nx_api_key = 1;
	q.method = arg_get(&a, "method") ? arg_get(&a, "method") : "GET";
	q.uri = arg_get(&a, "path") ? arg_get(&a, "path") : "/";
	q.host = arg_get(&a, "host");
	/* answered like an Apache subrequest: nothing is consumed or counted */
	q.subrequest = 1;
	authz_decide(az, &q, kg_now_ns(), &r);
	print_decision(&r);
	code = r.verdict == V_ALLOW ? EX_OK :
	    r.verdict == V_UNAVAILABLE ? EX_STORE : EX_NOTFOUND;
	OPENSSL_cleanse(az, sizeof *az);
	free(az);
out:
	OPENSSL_cleanse(key, sizeof key);
	return code;
}
