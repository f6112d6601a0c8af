/*
 * applied-probe.c - asks a site's copy, as an authorizer's ledger flush
 * does (repl_wait_applied), whether commits that were never made are
 * here, for tests/repl.
 *
 *   applied-probe DIR
 *
 * Opens the store in DIR as any process of the site does (keygate-repd
 * or not), and asks three times about each of three forged commit
 * tokens: the generation before the site's current one, the group's
 * first generation, and the current one, each from an environment that
 * does not exist.  Prints "role R gen G: A A A ..." (the answers: 0
 * applied, 1 not yet, -1 never, -2 error).  Exit 0 when no answer says
 * applied: none of them can be.  A crash is the test's failure too.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "repl.h"
#include "store.h"

#define ASKS 3

/* Berkeley DB's commit token: version, generation, env id, log file, offset (big-endian) */
static void
forge_token(unsigned char t[STORE_TOKEN_LEN], uint32_t gen)
{
	const uint32_t word[5] = {1, gen, 0x6b676174u, 1, 28};
	int i;

	for (i = 0; i < 5; i++) {
		t[4 * i] = (unsigned char)(word[i] >> 24);
		t[4 * i + 1] = (unsigned char)(word[i] >> 16);
		t[4 * i + 2] = (unsigned char)(word[i] >> 8);
		t[4 * i + 3] = (unsigned char)word[i];
	}
}

int
main(int argc, char **argv)
{
	static const char *const role[] = {"none", "master", "client"};
	unsigned char token[STORE_TOKEN_LEN];
	struct repl_info ri;
	struct store *s;
	char err[512];
	uint32_t gens[3];
	int i, k, r, wrong = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: applied-probe DIR\n");
		return 2;
	}
	if ((s = store_open(argv[1], 0, err, sizeof err)) == NULL) {
		fprintf(stderr, "applied-probe: %s\n", err);
		return 2;
	}
	if (repl_info(s, &ri) != 0) {
		fprintf(stderr, "applied-probe: not a replicated store\n");
		store_close(s);
		return 2;
	}
	gens[0] = ri.gen > 1 ? ri.gen - 1 : 1;
	gens[1] = 1;
	gens[2] = ri.gen > 0 ? ri.gen : 1;
	printf("role %s gen %u:", role[ri.role], (unsigned)ri.gen);
	fflush(stdout);
	for (i = 0; i < 3; i++) {
		forge_token(token, gens[i]);
		for (k = 0; k < ASKS; k++) {
			r = repl_wait_applied(s, token, 0);
			printf(" %d", r);
			fflush(stdout); /* what was answered before a crash */
			wrong += r == 0;
		}
	}
	printf("\n");
	store_close(s);
	return wrong == 0 ? 0 : 1;
}
