/*
 * cmd_import.c - keygate key import: move keys issued elsewhere into the
 * store without re-issuing them (SPEC 2).  Raw keys (8-256 printable
 * bytes) or, with --sha256, their SHA-256 hex digests, one a line on stdin.
 *
 * The whole input is read and checked first: a bad line changes nothing.
 * It is then written in transactions of IMPORT_BATCH keys, so that a huge
 * import neither holds locks that stall the authorizers for its whole
 * length nor needs a lock table sized for it.  Keys already in the store
 * for the same organization are skipped, so an interrupted import is
 * finished by running it again.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"

#define IMPORT_BATCH 10000
#define IMPORT_MAX   (50u * 1000 * 1000)

struct item {
	unsigned char digest[DIGEST_LEN];
	char display[DISPLAY_MAX];
	unsigned long line;
	uint8_t test;
	uint8_t dup;
};

struct import {
	const char *org;
	const char *name;
	int sha256;
	int peppered;
	struct item *items;
	size_t n, next;
	/* results */
	size_t added, present;
	unsigned long fail_line;
};

static int
read_line(FILE *f, char *buf, size_t cap, size_t *len, int *toolong)
{
	size_t n = 0;
	int ch;

	*toolong = 0;
	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (n + 1 < cap)
			buf[n++] = (char)ch;
		else
			*toolong = 1;
	}
	if (ch == EOF && n == 0 && !*toolong)
		return 0;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	*len = n;
	return 1;
}

static int
digest_cmp(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;
	int r = memcmp(x->digest, y->digest, DIGEST_LEN);

	return r ? r : (x->line < y->line ? -1 : x->line > y->line);
}

/* Marks the second and later copies of a digest in the input. */
static void
mark_duplicates(struct import *im)
{
	struct item **v = malloc(im->n * sizeof *v);
	size_t i;

	if (v == NULL)
		return; /* the store's duplicate check still catches them */
	for (i = 0; i < im->n; i++)
		v[i] = &im->items[i];
	qsort(v, im->n, sizeof *v, digest_cmp);
	for (i = 1; i < im->n; i++)
		if (memcmp(v[i]->digest, v[i - 1]->digest, DIGEST_LEN) == 0)
			v[i]->dup = 1;
	free(v);
}

static int
parse_input(struct cli *c, struct import *im, int test)
{
	char line[APIKEY_MAX + 8];
	size_t len, cap = 0;
	unsigned long lineno = 0;
	int toolong, code = EX_OK;

	while (read_line(stdin, line, sizeof line, &len, &toolong)) {
		struct item *it;
		enum apikey_mode mode = test ? MODE_TEST : MODE_LIVE;

		lineno++;
		if (len == 0 && !toolong)
			continue;
		if (im->n == IMPORT_MAX) {
			code = cli_fail(EX_USAGE, "key import: more than %u keys in one import", IMPORT_MAX);
			break;
		}
		if (im->n == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct item *p = realloc(im->items, ncap * sizeof *p);
			if (p == NULL) {
				code = cli_fail(EX_STORE, "key import: out of memory");
				break;
			}
			im->items = p;
			cap = ncap;
		}
		it = &im->items[im->n];
		memset(it, 0, sizeof *it);
		it->line = lineno;
		if (im->sha256) {
			if (toolong || len != 2 * DIGEST_LEN ||
			    hex_decode(line, len, it->digest, DIGEST_LEN) != 0) {
				code = cli_fail(EX_USAGE, "key import: line %lu: not a SHA-256 hex digest (64 hex digits)", lineno);
				break;
			}
			memcpy(it->display, "sha256:", 7);
			memcpy(it->display + 7, line, 8);
			memcpy(it->display + 15, "\xe2\x80\xa6", 4);
		} else {
			enum apikey_form form = toolong ? APIKEY_GARBAGE :
			    apikey_classify(c->kg.prefix, line, len, &mode);

			if (form == APIKEY_GARBAGE) {
				code = cli_fail(EX_USAGE, "key import: line %lu: a key must be 8-256 printable ASCII characters without spaces", lineno);
				break;
			}
			if (form == APIKEY_MALFORMED) {
				code = cli_fail(EX_USAGE, "key import: line %lu: starts with this store's prefix '%s_' but is not a valid key of that format (bad checksum?)",
				    lineno, c->kg.prefix);
				break;
			}
			apikey_display(c->kg.prefix, line, len, it->display, sizeof it->display);
			if (digester_digest(c->kg.digester, line, len, it->digest) != 0) {
				code = cli_fail(EX_STORE, "key import: OpenSSL failed to hash a key");
				break;
			}
		}
		it->test = mode == MODE_TEST;
		im->n++;
	}
	OPENSSL_cleanse(line, sizeof line);
	if (code == EX_OK && ferror(stdin))
		code = cli_fail(EX_USAGE, "key import: cannot read stdin");
	if (code == EX_OK && im->n == 0)
		code = cli_fail(EX_USAGE, "key import: no keys on stdin");
	return code;
}

static int
import_one(struct cli *c, struct store_txn *t, struct import *im, struct item *it,
    size_t *added, size_t *present)
{
	unsigned char buf[RECORD_MAX], ibuf[64];
	char id[KEYID_LEN + 1];
	struct keyid_rec kid;
	struct key_rec k;
	size_t len;
	int rc, n, code, tries;

	rc = store_get(c->kg.store, t, TBL_KEYS, it->digest, DIGEST_LEN, buf, sizeof buf, &len, 1);
	if (rc == ST_OK) {
		if (record_decode_key(buf, len, &k) == 0 && strcmp(k.org, im->org) == 0) {
			(*present)++;
			return EX_OK;
		}
		im->fail_line = it->line;
		return cli_fail(EX_CONFLICT, "key import: line %lu: this key already belongs to another organization",
		    it->line);
	}
	if (rc != ST_NOTFOUND)
		return rc == ST_DEADLOCK ? -ST_DEADLOCK : cli_store_fail(c, rc, "keys");
	for (tries = 0; tries < 4; tries++) {
		if (apikey_new_id(id) != 0)
			return cli_fail(EX_STORE, "OpenSSL's random generator failed");
		if (!cli_exists(c, t, TBL_KEYIDS, id))
			break;
	}
	memset(&k, 0, sizeof k);
	k.flags = KEYF_IMPORTED | (it->test ? KEYF_TEST : 0) |
	    (im->sha256 && im->peppered ? KEYF_PLAIN : 0);
	k.id = id;
	k.org = im->org;
	k.name = im->name ? im->name : "";
	k.user = "";
	k.display = it->display;
	k.successor = "";
	k.created_at = kg_now();
	if ((code = cli_put_key(c, t, it->digest, &k)) != EX_OK)
		return code;
	memcpy(kid.digest, it->digest, DIGEST_LEN);
	n = record_encode_keyid(&kid, ibuf, sizeof ibuf);
	rc = store_put(c->kg.store, t, TBL_KEYIDS, id, strlen(id), ibuf, (size_t)n, 1);
	if (rc != ST_OK)
		return rc == ST_DEADLOCK ? -ST_DEADLOCK : cli_store_fail(c, rc, "key id");
	(*added)++;
	return EX_OK;
}

static int
import_batch_txn(struct cli *c, struct store_txn *t, void *ctx)
{
	struct import *im = ctx;
	unsigned char obuf[RECORD_MAX], mbuf[RECORD_MAX], out[RECORD_MAX];
	struct org_rec o;
	struct meta_rec m;
	size_t i, end = im->next + IMPORT_BATCH, added = 0, present = 0;
	int code, rc, n;

	if (end > im->n)
		end = im->n;
	if ((code = cli_get_org(c, t, im->org, obuf, &o, 1)) != EX_OK)
		return code;
	for (i = im->next; i < end; i++) {
		if (im->items[i].dup)
			continue;
		if ((code = import_one(c, t, im, &im->items[i], &added, &present)) != EX_OK)
			return code;
	}
	o.nkeys += (uint32_t)added;
	if ((code = cli_put_org(c, t, im->org, &o)) != EX_OK)
		return code;
	/* A peppered store looks plain digests up only while it holds some. */
	if (im->sha256 && im->peppered && added > 0) {
		if ((rc = kg_read_meta(&c->kg, t, mbuf, sizeof mbuf, &m, 1)) != ST_OK)
			return rc == ST_DEADLOCK ? -ST_DEADLOCK : cli_store_fail(c, rc, "meta record");
		m.plain_digests += added;
		n = record_encode_meta(&m, out, sizeof out);
		rc = store_put(c->kg.store, t, TBL_META, "store", 5, out, (size_t)n, 0);
		if (rc != ST_OK)
			return rc == ST_DEADLOCK ? -ST_DEADLOCK : cli_store_fail(c, rc, "meta record");
	}
	/* counted only once the batch commits: cli_txn may run us again */
	im->added += added;
	im->present += present;
	return EX_OK;
}

static int
check_capacity(struct cli *c, struct import *im)
{
	unsigned char obuf[RECORD_MAX], pbuf[RECORD_MAX];
	struct org_rec o;
	struct plan_rec p;
	size_t i, fresh = 0;
	int code;

	if ((code = cli_get_org(c, NULL, im->org, obuf, &o, 0)) != EX_OK)
		return code < 0 ? EX_STORE : code;
	if ((code = cli_get_plan(c, NULL, o.plan, pbuf, &p, 0)) != EX_OK)
		return code < 0 ? EX_STORE : code;
	if (p.max_keys == 0)
		return EX_OK;
	for (i = 0; i < im->n; i++)
		if (!im->items[i].dup &&
		    store_exists(c->kg.store, NULL, TBL_KEYS, im->items[i].digest, DIGEST_LEN) == ST_NOTFOUND)
			fresh++;
	if (o.nkeys + fresh > p.max_keys)
		return cli_fail(EX_CONFLICT, "key import: %zu new keys would give organization '%s' %zu keys; its plan '%s' allows %u",
		    fresh, im->org, o.nkeys + fresh, p.name, p.max_keys);
	return EX_OK;
}

int
cmd_key_import(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"org", 1, 0}, {"sha256", 0, 0}, {"test", 0, 0}, {"name", 1, 0}, {NULL, 0, 0},
	};
	struct import im;
	struct args a;
	size_t i, dups = 0;
	int code;

	c->cmd = "key import";
	if ((code = cli_parse(c, argc, argv, specs, 0, 0,
	    "key import --org ORG [--sha256] [--test] [--name TEXT] < keys", &a)) != EX_OK)
		return code;
	memset(&im, 0, sizeof im);
	if ((im.org = arg_get(&a, "org")) == NULL)
		return cli_fail(EX_USAGE, "key import: --org ORG is required");
	im.name = arg_get(&a, "name");
	if (!record_text_valid(im.name))
		return cli_fail(EX_USAGE, "key import: --name must be at most 128 characters without control characters");
	im.sha256 = arg_has(&a, "sha256");
	if ((code = cli_open(c)) != EX_OK)
		return code;
	im.peppered = digester_peppered(c->kg.digester);
	if (!cli_exists(c, NULL, TBL_ORGS, im.org))
		return cli_not_found(c, NULL, "organization", im.org);
	if ((code = parse_input(c, &im, arg_has(&a, "test"))) != EX_OK)
		goto out;
	mark_duplicates(&im);
	for (i = 0; i < im.n; i++)
		dups += im.items[i].dup;
	if ((code = check_capacity(c, &im)) != EX_OK)
		goto out;
	for (im.next = 0; im.next < im.n; im.next += IMPORT_BATCH) {
		if ((code = cli_txn(c, import_batch_txn, &im)) != EX_OK) {
			if (im.added > 0)
				cli_note("keygate: %zu keys were imported before the failure; fix the input "
				    "and run the same import again (keys already imported are skipped)",
				    im.added);
			goto out;
		}
	}
	cli_note("keygate: imported %zu keys into %s (%zu already present, %zu duplicate lines)",
	    im.added, im.org, im.present, dups);
out:
	if (im.items != NULL)
		OPENSSL_cleanse(im.items, im.n * sizeof *im.items);
	free(im.items);
	return code;
}
