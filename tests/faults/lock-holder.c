/*
 * lock-holder.c - for tests/faults/oldregion.sh: opens the store in
 * argv[1], writes every record of its keys table back in one transaction
 * (so that it holds a write lock on every page of it), says "held" on
 * stdout and waits until it is killed, the transaction open.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

struct rec {
	unsigned char key[64], val[4096];
	size_t klen, vlen;
};

struct recs {
	struct rec *r;
	size_t n, cap;
};

static int
collect(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
	struct recs *rs = ctx;

	if (kl > sizeof rs->r->key || vl > sizeof rs->r->val)
		return 1;
	if (rs->n == rs->cap) {
		void *p = realloc(rs->r, (rs->cap = rs->cap ? 2 * rs->cap : 16) * sizeof *rs->r);

		if (p == NULL)
			return 1;
		rs->r = p;
	}
	memcpy(rs->r[rs->n].key, k, kl);
	memcpy(rs->r[rs->n].val, v, vl);
	rs->r[rs->n].klen = kl;
	rs->r[rs->n].vlen = vl;
	rs->n++;
	return 0;
}

int
main(int argc, char **argv)
{
	struct recs rs = {NULL, 0, 0};
	struct store_txn *t;
	struct store *s;
	char err[600];
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "usage: lock-holder STORE-DIR\n");
		return 1;
	}
	if ((s = store_open(argv[1], 0, err, sizeof err)) == NULL) {
		fprintf(stderr, "lock-holder: %s\n", err);
		return 1;
	}
	if (store_scan(s, NULL, TBL_KEYS, collect, &rs) != ST_OK || rs.n == 0 ||
	    store_txn_begin(s, &t) != ST_OK) {
		fprintf(stderr, "lock-holder: %s\n", store_errmsg(s));
		return 1;
	}
	for (i = 0; i < rs.n; i++)
		if (store_put(s, t, TBL_KEYS, rs.r[i].key, rs.r[i].klen, rs.r[i].val,
		    rs.r[i].vlen, 0) != ST_OK) {
			fprintf(stderr, "lock-holder: %s\n", store_errmsg(s));
			return 1;
		}
	printf("held\n");
	fflush(stdout);
	for (;;)
		pause();
}
