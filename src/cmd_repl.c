/*
 * cmd_repl.c - keygate repl status, keygate repl join HOST:PORT: a
 * replicated store as this host's keygate-repd sees it, and a new, empty
 * site made a copy of a running group (keygate(1), keygate-repd(8)).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "keyindex.h"
#include "parse.h"
#include "repl.h"
#include "repllink.h"
#include "replmsg.h"
#include "replsite.h"

#define STATUS_TIMEOUT_MS 3000
#define JOIN_DEFAULT_S 600      /* a first copy of a large store takes a while */
#define JOIN_POLL_MS 200

/* ---- status ---- */

static void
fmt_lag(uint64_t ns, char *buf, size_t n)
{
	if (ns < 1000000000ull)
		snprintf(buf, n, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%.1f s", (double)ns / 1e9);
}

static void
json_site(struct json *j, const struct replsite_info *i, int self)
{
	char addr[REPL_HOST_MAX + 16];

	json_obj_begin(j);
	json_kv_str(j, "address", replsite_addr_str(&i->addr, addr, sizeof addr), 0);
	json_kv_str(j, "role", replsite_role_name(i->role), 0);
	json_kv_str(j, "state", replsite_state_name(i->state), 0);
	if (!self) {
		json_key(j, "connected");
		json_bool(j, i->connected);
	}
	json_key(j, "lag_ms");
	if (i->age_ms == UINT64_MAX)
		json_null(j);
	else
		json_uint(j, i->lag_ns / 1000000u);
	json_key(j, "log_position");
	if (i->age_ms == UINT64_MAX)
		json_null(j);
	else
		json_uint(j, i->lsn);
	if (!self) {
		json_key(j, "heard_ms_ago");
		if (i->age_ms == UINT64_MAX)
			json_null(j);
		else
			json_uint(j, i->age_ms);
	}
	json_obj_end(j);
}

static void
print_json(const struct replsite_status *st)
{
	char addr[REPL_HOST_MAX + 16];
	struct json j;
	size_t i;

	json_init(&j, stdout);
	json_obj_begin(&j);
	json_kv_str(&j, "role", replsite_role_name(st->self.role), 0);
	json_key(&j, "site");
	json_site(&j, &st->self, 1);
	json_kv_str(&j, "master", st->have_master ?
	    replsite_addr_str(&st->master, addr, sizeof addr) : "", 1);
	json_kv_int(&j, "group_size", st->group_size);
	json_kv_int(&j, "priority", st->priority);
	json_kv_int(&j, "elections", (int64_t)st->elections);
	json_key(&j, "settings");
	json_obj_begin(&j);
	json_kv_str(&j, "acks", st->settings.quorum_acks ? "quorum" : "other", 0);
	json_key(&j, "bulk");
	json_bool(&j, st->settings.bulk);
	json_key(&j, "nowait");
	json_bool(&j, st->settings.nowait);
	json_key(&j, "elections");
	json_bool(&j, st->settings.elections);
	json_kv_int(&j, "ack_timeout_ms", st->settings.ack_timeout_ms);
	json_kv_int(&j, "heartbeat_send_ms", st->settings.heartbeat_send_ms);
	json_kv_int(&j, "heartbeat_monitor_ms", st->settings.heartbeat_monitor_ms);
	json_kv_int(&j, "election_timeout_ms", st->settings.election_timeout_ms);
	json_kv_int(&j, "checkpoint_delay_ms", st->settings.checkpoint_delay_ms);
	json_obj_end(&j);
	json_key(&j, "sites");
	json_arr_begin(&j);
	for (i = 0; i < st->nsites; i++)
		json_site(&j, &st->sites[i], 0);
	json_arr_end(&j);
	json_obj_end(&j);
	putchar('\n');
}

static void
print_text(const struct replsite_status *st)
{
	char addr[REPL_HOST_MAX + 16], lag[32];
	size_t i;

	fmt_lag(st->self.lag_ns, lag, sizeof lag);
	printf("site:     %s (%s, %s, %s behind)\n",
	    replsite_addr_str(&st->self.addr, addr, sizeof addr),
	    replsite_role_name(st->self.role), replsite_state_name(st->self.state), lag);
	printf("master:   %s\n", st->have_master ?
	    replsite_addr_str(&st->master, addr, sizeof addr) : "none (an election, or too few sites)");
	printf("group:    %u sites, this one at priority %u, %llu election%s here\n",
	    st->group_size, st->priority, st->elections, st->elections == 1 ? "" : "s");
	printf("settings: %s acks, bulk %s, nowait %s, heartbeats every %u ms (a master "
	    "silent %u ms is lost)\n", st->settings.quorum_acks ? "quorum" : "NOT quorum",
	    st->settings.bulk ? "on" : "OFF", st->settings.nowait ? "on" : "OFF",
	    st->settings.heartbeat_send_ms, st->settings.heartbeat_monitor_ms);
	for (i = 0; i < st->nsites; i++) {
		const struct replsite_info *s = &st->sites[i];

		printf("  %-24s %-8s %-9s %-13s", replsite_addr_str(&s->addr, addr, sizeof addr),
		    replsite_role_name(s->role), replsite_state_name(s->state),
		    s->connected ? "connected" : "disconnected");
		if (s->age_ms == UINT64_MAX) {
			printf("not heard of\n");
		} else {
			fmt_lag(s->lag_ns, lag, sizeof lag);
			printf("%s behind\n", lag);
		}
	}
}

static int
is_replicated(const char *dir)
{
	char path[PATHNAME_BUF];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, STORE_REPL_MARKER);
	return lstat(path, &st) == 0;
}

static int
repl_status(struct cli *c, int argc, char **argv)
{
	struct replsite_status st;
	struct replmsg_w w;
	struct replmsg_r r;
	struct args a;
	void *ans = NULL;
	size_t alen = 0;
	const char *msg;
	char err[600], path[PATHNAME_BUF];
	struct stat sb;
	int code;

	c->cmd = "repl status";
	if ((code = cli_parse(c, argc, argv, NULL, 0, 0, "repl status", &a)) != EX_OK ||
	    (code = cli_locate(c)) != EX_OK)
		return code;
	if (!is_replicated(c->dir)) {
		snprintf(path, sizeof path, "%s/%s", c->dir, store_tbl_name(TBL_META));
		if (stat(path, &sb) != 0)
			return cli_fail(EX_STORE, "no keygate store in %s", c->dir);
		if (c->json)
			printf("{\"role\":\"standalone\"}\n");
		else
			printf("site:     standalone (this store is not replicated)\n");
		return EX_OK;
	}
	rmw_init(&w);
	rmw_request(&w, RM_STATUS);
	if (w.failed || repllink_call(c->dir, w.buf, w.len, STATUS_TIMEOUT_MS, &ans, &alen, NULL,
	    err, sizeof err) != 0) {
		rmw_free(&w);
		return cli_fail(EX_STORE, "%s", w.failed ? "out of memory" : err);
	}
	rmw_free(&w);
	rmr_init(&r, ans, alen);
	if (rmr_answer(&r, &msg) != RS_OK || replsite_get_status(&r, &st) != 0) {
		free(ans);
		return cli_fail(EX_STORE, "a malformed status from keygate-repd");
	}
	free(ans);
	if (c->json)
		print_json(&st);
	else
		print_text(&st);
	return EX_OK;
}

/* ---- join ---- */

static const struct optspec join_opts[] = {
	{"timeout", 1, 0},
	{NULL, 0, 0},
};

static void
sleep_ms(unsigned ms)
{
	struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&t, NULL);
}

/* Removes what the join wrote into dir (it was empty), and dir if the join made it. */
static void
undo_files(const char *dir, int made_dir)
{
	static const char *const names[] = {
		STORE_REPL_MARKER, REPLSITE_LOCK, REPLLINK_SOCKET, "keygate.lock",
		"counters", "counters.new", "counters.lock", "counters.flush", "keyindex",
		"keyindex.lock", "metrics", "metrics.lock",
	};
	char path[PATHNAME_BUF];
	size_t i;
	int t, k;

	for (t = 0; t < TBL_COUNT; t++) {
		snprintf(path, sizeof path, "%s/%s", dir, store_tbl_name((enum store_tbl)t));
		unlink(path);
	}
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	for (k = 1; k < 100; k++) {
		snprintf(path, sizeof path, "%s/__db.%03d", dir, k);
		unlink(path);
		snprintf(path, sizeof path, "%s/log.%010d", dir, k);
		unlink(path);
	}
	static const char *const rep[] = {
		"__db.register", "__db.rep.db", "__db.rep.diag00", "__db.rep.diag01",
		"__db.rep.egen", "__db.rep.gen", "__db.rep.system", "__db.reppg.db",
		"__db.rep.init", "__db.rep.lsn",
	};
	for (i = 0; i < sizeof rep / sizeof rep[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, rep[i]);
		unlink(path);
	}
	if (made_dir)
		rmdir(dir);
}

/*
 * The site's copy: started as a client of the group through helper,
 * until the master has added it and it holds a whole copy.  0, or -1
 * with err set (*joined: the group had added it by then).
 */
static int
copy_from_group(struct store *s, const struct repl_setup *setup, uint64_t deadline,
    int *joined, char *err, size_t errlen)
{
	static const struct repl_ops ops = {NULL, NULL, NULL};
	struct repl_info ri;
	int rc;

	*joined = 0;
	while ((rc = repl_start(s, setup, &ops, err, errlen)) > 0) {
		if (kg_mono_ns() > deadline)
			return -1;
		sleep_ms(1000);
	}
	if (rc < 0)
		return -1;
	*joined = 1;
	for (;;) {
		if (repl_info(s, &ri) == 0 && ri.role == REPL_ROLE_CLIENT && ri.startup_done &&
		    store_open_tables(s, err, errlen) == ST_OK)
			return 0;
		if (kg_mono_ns() > deadline) {
			snprintf(err, errlen, "the copy of the group's store did not complete in time "
			    "(--timeout)");
			return -1;
		}
		sleep_ms(JOIN_POLL_MS);
	}
}

static int
join_setup(struct cli *c, const char *helper_arg, struct repl_setup *setup)
{
	const char *why;
	char err[600];
	size_t i;

	if (c->conf.repl_site.host[0] == '\0')
		return cli_fail(EX_USAGE, "repl join: keygate.conf sets no repl_site (this host's "
		    "address in the group)");
	memset(setup, 0, sizeof *setup);
	if (conf_parse_addr(helper_arg, &setup->peers[0], &why) != 0)
		return cli_fail(EX_USAGE, "repl join: %s", why);
	if (conf_same_addr(&setup->peers[0], &c->conf.repl_site))
		return cli_fail(EX_USAGE, "repl join: %s is this site (repl_site): name a site of "
		    "the group to join", helper_arg);
	if (replsite_addr_local(&c->conf.repl_site, err, sizeof err) != 0)
		return cli_fail(EX_USAGE, "repl join: %s", err);
	setup->npeers = 1;
	for (i = 0; i < c->conf.nrepl_peers && setup->npeers < REPL_SITES_MAX; i++)
		if (!conf_same_addr(&c->conf.repl_peers[i], &setup->peers[0]))
			setup->peers[setup->npeers++] = c->conf.repl_peers[i];
	setup->local = c->conf.repl_site;
	setup->priority = c->conf.repl_priority;
	return EX_OK;
}

static int
repl_join(struct cli *c, int argc, char **argv)
{
	struct repl_setup setup;
	struct args a;
	struct store *s = NULL;
	struct kg kg;
	const char *t, *why;
	char err[600];
	int64_t secs = JOIN_DEFAULT_S;
	uint64_t deadline;
	int code, made_dir = 0, lockfd = -1, joined = 0, left;

	c->cmd = "repl join";
	if ((code = cli_parse(c, argc, argv, join_opts, 1, 1, "repl join HOST:PORT [--timeout 10m]",
	    &a)) != EX_OK || (code = cli_locate(c)) != EX_OK)
		return code;
	if ((t = arg_get(&a, "timeout")) != NULL &&
	    (parse_duration(t, &secs, &why) != 0 || secs < 1 || secs > 86400))
		return cli_fail(EX_USAGE, "repl join: --timeout must be a duration from 1s to 1d");
	if ((code = join_setup(c, a.pos[0], &setup)) != EX_OK)
		return code;
	switch (replsite_empty(c->dir, err, sizeof err)) {
	case 1:
		break;
	case 0:
		return cli_fail(EX_CONFLICT, "repl join: %s", err);
	default:
		return cli_fail(EX_STORE, "repl join: %s", err);
	}
	if (mkdir(c->dir, 0770) == 0)
		made_dir = 1;
	else if (errno != EEXIST)
		return cli_fail(EX_STORE, "repl join: cannot make %s: %s", c->dir, strerror(errno));
	if ((lockfd = replsite_lock(c->dir, err, sizeof err)) < 0) {
		undo_files(c->dir, made_dir);
		return cli_fail(EX_STORE, "repl join: %s", err);
	}
	deadline = kg_mono_ns() + (uint64_t)secs * 1000000000ull;
	cli_note("keygate: joining the group through %s (the first copy of its store may take a while)",
	    a.pos[0]);
	alarm(0); /* the copy makes its own progress; --timeout bounds it */
	if (replsite_mark(c->dir, err, sizeof err) != 0 ||
	    (s = store_open(c->dir, STORE_REPL_OWNER, err, sizeof err)) == NULL ||
	    copy_from_group(s, &setup, deadline, &joined, err, sizeof err) != 0)
		goto fail;
	/* the group's store must be one this host decides the same with (its pepper) */
	if (kg_attach(&kg, s, err, sizeof err) != 0) {
		snprintf(err + strlen(err), sizeof err - strlen(err),
		    ": this host would not decide as the group does, so it leaves the group");
		goto fail;
	}
	s = NULL; /* kg's */
	if (keyindex_rebuild(c->dir, counters_index_anchor(kg.counters), kg.store, NULL, err,
	    sizeof err) != 0)
		cli_note("keygate: the key index will be built by keygate-repd (%s)", err);
	kg_close(&kg);
	close(lockfd);
	cli_note("keygate: this site (%s:%u) holds a copy of the group's store: start keygate-repd",
	    setup.local.host, setup.local.port);
	return EX_OK;
fail:
	left = joined && s != NULL && repl_leave(s, &setup.local) == 0;
	if (s != NULL)
		store_close(s);
	undo_files(c->dir, made_dir);
	close(lockfd);
	if (joined && !left)
		return cli_fail(EX_STORE, "repl join: %s (the group still lists %s:%u as a member; "
		    "it is removed with keygate repl join again from this host)", err,
		    setup.local.host, setup.local.port);
	return cli_fail(EX_STORE, "repl join: %s; nothing was changed", err);
}

int
cmd_repl(struct cli *c, int argc, char **argv)
{
	c->cmd = "repl";
	if (argc < 1)
		return cli_fail(EX_USAGE, "repl: expected status or join");
	if (strcmp(argv[0], "status") == 0)
		return repl_status(c, argc - 1, argv + 1);
	if (strcmp(argv[0], "join") == 0)
		return repl_join(c, argc - 1, argv + 1);
	return cli_fail(EX_USAGE, "repl: unknown subcommand '%s' (status, join)", argv[0]);
}
