/*
 * hold-cursor.c - a process of a site that stops in the middle of a read,
 * for tests/repl/stuck.sh.
 *
 *   hold-cursor DIR
 *
 * Opens the store in DIR as any process of the site does, starts reading
 * the audit trail (a cursor, as the authorizers' and keygate-repd's reads
 * are) and stops at its first record, cursor open, until it is killed:
 * a process hung inside a read.  Prints "holding" once it holds it.
 * Berkeley DB counts the open cursor as an operation in progress, and a
 * replica that must roll back or take a full copy waits for every such
 * operation to end before it applies anything again.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "store.h"

static int
hold(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	(void)ctx;
	printf("holding\n");
	fflush(stdout);
	for (;;)
		pause();
	return 1;
}

int
main(int argc, char **argv)
{
	struct store *s;
	char err[512];
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: hold-cursor DIR\n");
		return 2;
	}
	if ((s = store_open(argv[1], 0, err, sizeof err)) == NULL) {
		fprintf(stderr, "hold-cursor: %s\n", err);
		return 2;
	}
	rc = store_scan(s, NULL, TBL_AUDIT, hold, NULL);
	fprintf(stderr, "hold-cursor: the audit trail has no record to stop at (%d: %s)\n", rc,
	    store_errmsg(s));
	store_close(s);
	return 1;
}
