/*
 * cmd_init.c - keygate init: create a store.
 *
 * With --group, the web server's group shares the store (keygate(1), init): the
 * directory becomes root:GROUP 2770 (setgid, so every file created later
 * inherits the group) and files are 0660; nothing is world-accessible.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "vault.h"
#include "ledger.h"
#include "counters.h"

static int
parse_size(const char *s, uint64_t *out, const char **err)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t v, mult = 1;

	*err = "size must look like 64M or 1G";
	if (n == 0 || n >= sizeof num)
		return -1;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k': case 'K': mult = 1u << 10; num[--n] = '\0'; break;
	case 'm': case 'M': mult = 1u << 20; num[--n] = '\0'; break;
	case 'g': case 'G': mult = 1u << 30; num[--n] = '\0'; break;
	default: break;
	}
	if (parse_u64(num, 1, (64ull << 30) / mult, &v, err) != 0)
		return -1;
	*out = v * mult;
	if (*out < (1u << 20)) {
		*err = "cache size must be at least 1M";
		return -1;
	}
	return 0;
}

/* A directory that exists must be empty (we never adopt someone's files). */
static int
prepare_dir(const char *dir, gid_t gid, int grouped)
{
	struct stat st;

	if (mkdir(dir, grouped ? 02770 : 0700) != 0) {
		if (errno != EEXIST)
			return cli_fail(EX_STORE, "cannot create %s: %s", dir, strerror(errno));
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
			return cli_fail(EX_CONFLICT, "%s exists and is not a directory", dir);
		{
			char probe[PATHNAME_BUF];
			snprintf(probe, sizeof probe, "%s/meta.db", dir);
			if (access(probe, F_OK) == 0)
				return cli_fail(EX_CONFLICT, "%s already holds a keygate store", dir);
		}
	}
	if (grouped) {
		if (chown(dir, (uid_t)-1, gid) != 0)
			return cli_fail(EX_STORE, "cannot give %s to the group: %s", dir, strerror(errno));
		if (chmod(dir, 02770) != 0)
			return cli_fail(EX_STORE, "cannot chmod %s: %s", dir, strerror(errno));
	} else if (chmod(dir, 0700) != 0) {
		return cli_fail(EX_STORE, "cannot chmod %s: %s", dir, strerror(errno));
	}
	return EX_OK;
}

/* The meta record, with the store's first audit record. */
static int
write_meta(struct store *s, const char *prefix, const char *pepper_path,
    const unsigned char *pepper, size_t plen, const char *vault_path,
    const struct vault *vault)
{
	char err[600], who[AUDIT_ACTOR_MAX + 1];
	struct vault_meta_rec vm;
	struct cat_actor actor;
	struct meta_rec m;

	memset(&m, 0, sizeof m);
	m.format = STORE_FORMAT;
	m.prefix = prefix;
	m.pepper_path = pepper_path ? pepper_path : "";
	m.created_at = kg_now();
	if (pepper_path != NULL) {
		m.flags |= METAF_PEPPER;
		if (kg_pepper_check(pepper, plen, m.pepper_check) != 0)
			return cli_fail(EX_STORE, "OpenSSL failed to compute the pepper check");
	}
	if (vault != NULL) {
		vm.path = vault_path;
		vault_check(vault, vm.check);
	}
	cli_actor(&actor, who);
	if (cat_init_store(s, &actor, &m, vault ? &vm : NULL, err, sizeof err) != 0)
		return cli_fail(EX_STORE, "%s", err);
	store_checkpoint(s);
	return EX_OK;
}

/*
 * The counter file (its size recorded for later rebuilds) and an empty key
 * index, so that authorizers use both from the first request.
 */
static int
build_derived(const char *dir, struct store *s, uint32_t slots)
{
	struct counters *ctr;
	char err[600];
	int rc = -1;

	if (ledger_set_slots(s, slots, err, sizeof err) == 0 &&
	    counters_create(dir, slots, err, sizeof err) == 0 &&
	    (ctr = counters_open(dir, err, sizeof err)) != NULL) {
		rc = keyindex_rebuild(dir, counters_index_anchor(ctr), s, NULL, err, sizeof err);
		counters_close(ctr);
	}
	return rc == 0 ? EX_OK : cli_fail(EX_STORE, "init: %s", err);
}

int
cmd_init(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"prefix", 1, 0}, {"pepper-file", 1, 0}, {"group", 1, 0},
		{"cache-size", 1, 0}, {"counter-slots", 1, 0}, {"vault-file", 1, 0},
		{NULL, 0, 0},
	};
	unsigned char pepper[PEPPER_MAX];
	char err[600], pepper_abs[PATH_MAX], vault_abs[PATH_MAX];
	const char *prefix, *pepper_path, *group, *why, *path, *vault_path;
	struct vault *vault = NULL;
	struct args a;
	struct group *gr = NULL;
	struct store *s;
	uint64_t cache = 0, slots = COUNTERS_DEFAULT_SLOTS;
	size_t plen = 0;
	int code, must_exist;

	c->cmd = "init";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0,
	    "init [--prefix kg] [--pepper-file FILE] [--vault-file FILE] [--group GROUP]",
	    &a)) != EX_OK)
		return code;
	prefix = arg_get(&a, "prefix") ? arg_get(&a, "prefix") : "kg";
	if (!apikey_prefix_valid(prefix))
		return cli_fail(EX_USAGE, "init: --prefix must be 2-12 of a-z and 0-9");
	if (arg_get(&a, "cache-size") && parse_size(arg_get(&a, "cache-size"), &cache, &why) != 0)
		return cli_fail(EX_USAGE, "init: --cache-size: %s", why);
	if (arg_get(&a, "counter-slots")) {
		if (parse_u64(arg_get(&a, "counter-slots"), 1024, 1u << 28, &slots, &why) != 0 ||
		    (slots & (slots - 1)) != 0)
			return cli_fail(EX_USAGE, "init: --counter-slots must be a power of two from 1024");
	}
	if ((group = arg_get(&a, "group")) != NULL && (gr = getgrnam(group)) == NULL)
		return cli_fail(EX_USAGE, "init: no such group '%s'", group);
	pepper_path = arg_get(&a, "pepper-file");
	if (pepper_path != NULL) {
		if (realpath(pepper_path, pepper_abs) == NULL)
			return cli_fail(EX_USAGE, "init: pepper file %s: %s", pepper_path, strerror(errno));
		if ((code = cli_check_path("init: the pepper file's path", pepper_abs)) != EX_OK)
			return code;
		pepper_path = pepper_abs;
		if (kg_read_pepper(pepper_path, pepper, sizeof pepper, &plen, err, sizeof err) != 0)
			return cli_fail(EX_USAGE, "init: %s", err);
	}
	/* keys that can be read again: the vault file, 32 bytes (vault.h) */
	if ((vault_path = arg_get(&a, "vault-file")) != NULL) {
		if (realpath(vault_path, vault_abs) == NULL) {
			code = cli_fail(EX_USAGE, "init: vault file %s: %s", vault_path, strerror(errno));
			goto out;
		}
		if ((code = cli_check_path("init: the vault file's path", vault_abs)) != EX_OK)
			goto out;
		vault_path = vault_abs;
		if ((vault = vault_load(vault_path, err, sizeof err)) == NULL) {
			code = cli_fail(EX_USAGE, "init: %s", err);
			goto out;
		}
	}
	conf_defaults(&c->conf);
	path = conf_path(c->config_opt, &must_exist);
	if (conf_load(path, must_exist, &c->conf, err, sizeof err) != 0)
		return cli_fail(EX_USAGE, "%s", err);
	c->dir = conf_db(c->db_opt, &c->conf);
	/* before anything is made: store_open would refuse the store later */
	if ((code = cli_check_path("init: the store path", c->dir)) != EX_OK)
		goto out;
	if ((code = prepare_dir(c->dir, gr ? gr->gr_gid : 0, gr != NULL)) != EX_OK)
		goto out;
	if (store_write_config(c->dir, cache, err, sizeof err) != 0) {
		code = cli_fail(EX_STORE, "init: %s", err);
		goto out;
	}
	if ((s = store_open(c->dir, STORE_CREATE, err, sizeof err)) == NULL) {
		code = cli_fail(EX_STORE, "init: %s", err);
		goto out;
	}
	code = write_meta(s, prefix, pepper_path, pepper, plen, vault_path, vault);
	if (code == EX_OK)
		code = build_derived(c->dir, s, (uint32_t)slots);
	store_close(s);
	if (code == EX_OK)
		cli_note("keygate: store created in %s (prefix %s%s%s%s%s)", c->dir, prefix,
		    pepper_path ? ", peppered" : "", vault ? ", with a vault" : "",
		    gr ? ", shared with group " : "", gr ? group : "");
out:
	vault_free(vault);
	OPENSSL_cleanse(pepper, sizeof pepper);
	return code;
}
