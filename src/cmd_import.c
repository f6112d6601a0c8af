/*
 * cmd_import.c - keygate key import: move keys issued elsewhere into the
 * store without re-issuing them (keygate(1), KEYS).  Raw keys (8-256 printable
 * bytes) or, with --sha256, their SHA-256 hex digests, one a line on stdin.
 *
 * The whole input is read and checked first: a bad line changes nothing.
 * The catalog then writes it in transactions of CAT_IMPORT_BATCH keys, so
 * that a huge import neither holds locks that stall the authorizers for
 * its whole length nor needs a lock table sized for it.  Keys already in
 * the store for the same organization are skipped, so an interrupted
 * import is finished by running it again.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"

#define IMPORT_MAX   (50u * 1000 * 1000)

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
	const struct cat_import_item *x = *(const struct cat_import_item *const *)a;
	const struct cat_import_item *y = *(const struct cat_import_item *const *)b;
	int r = memcmp(x->digest, y->digest, DIGEST_LEN);

	return r ? r : (x->line < y->line ? -1 : x->line > y->line);
}

/* Marks the second and later copies of a digest in the input. */
static void
mark_duplicates(struct cat_import *im)
{
	struct cat_import_item **v = malloc(im->n * sizeof *v);
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
parse_input(struct cli *c, struct cat_import *im, int test)
{
	char line[APIKEY_MAX + 8];
	size_t len, cap = 0;
	unsigned long lineno = 0;
	int toolong, code = EX_OK;

	while (read_line(stdin, line, sizeof line, &len, &toolong)) {
		struct cat_import_item *it;
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
			struct cat_import_item *p = realloc(im->items, ncap * sizeof *p);
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

int
cmd_key_import(struct cli *c, int argc, char **argv)
{
	static const struct optspec specs[] = {
		{"org", 1, 0}, {"sha256", 0, 0}, {"test", 0, 0}, {"name", 1, 0}, {NULL, 0, 0},
	};
	struct cat_import im;
	struct cat_org org;
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
	/* before stdin is read: a typo in --org costs no pasted input */
	if ((code = cli_cat_fail(c, cat_get_org(c->cat, im.org, &org))) != EX_OK)
		return code;
	if ((code = parse_input(c, &im, arg_has(&a, "test"))) != EX_OK)
		goto out;
	mark_duplicates(&im);
	for (i = 0; i < im.n; i++)
		dups += im.items[i].dup;
	if ((code = cli_cat_fail(c, cat_key_import_check(c->cat, &im))) != EX_OK)
		goto out;
	for (i = 0; i < im.n; i += CAT_IMPORT_BATCH) {
		if ((code = cli_cat_fail(c, cat_key_import_batch(c->cat, &im, i))) != EX_OK) {
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
