/*
 * catfwd.h - the catalog's writes in a replicated store.  Only the
 * master's keygate-repd writes there, with the catalog itself: every
 * other process sends it the operation (its input and its actor) through
 * the host's keygate-repd (repllink.h, which forwards it to the master
 * over the replication manager's channel) and takes the result back as
 * if the catalog had run here: the CLI and keygate-api never know where
 * they run.  Nothing reached by a write fails open: no master, no
 * keygate-repd or no answer is CAT_STORE (exit 4, 503), and the message
 * says whether anything may have changed.
 *
 * The catalog calls the client half (catalog.c, one line at the top of
 * each write); keygate-repd calls catfwd_exec on the master.  Both halves
 * of the format live here.
 */
#ifndef KEYGATE_CATFWD_H
#define KEYGATE_CATFWD_H

#include "catalog.h"
#include "replmsg.h"

/* The operation a catalog request carries, after its actor (one byte). */
enum catfwd_op {
	CATFWD_PLAN_SET = 1, CATFWD_PLAN_DELETE, CATFWD_ORG_CREATE, CATFWD_ORG_SET,
	CATFWD_ORG_CREDIT, CATFWD_KEY_CREATE, CATFWD_KEY_REVOKE, CATFWD_KEY_ROTATE,
	CATFWD_KEY_IMPORT, CATFWD_USAGE_PRUNE, CATFWD_AUDIT_PRUNE
};

/* How long a forwarded write may take: the master's catalog, an election. */
#define CATFWD_TIMEOUT_MS 30000

int catfwd_plan_set(struct catalog *cat, const struct cat_plan_spec *s, int *created);
int catfwd_plan_delete(struct catalog *cat, const char *name);
int catfwd_org_create(struct catalog *cat, const char *id, const char *plan,
    const char *name);
int catfwd_org_set(struct catalog *cat, const char *id, const struct cat_org_change *ch);
int catfwd_org_credit(struct catalog *cat, const char *id, int64_t amount,
    uint64_t *granted, int64_t *balance);
int catfwd_key_create(struct catalog *cat, const struct cat_key_spec *spec,
    struct cat_new_key *out);
int catfwd_key_revoke(struct catalog *cat, const char *id, int *already);
int catfwd_key_rotate(struct catalog *cat, const struct cat_rotate_spec *spec,
    struct cat_new_key *out);
int catfwd_key_import_batch(struct catalog *cat, struct cat_import *im, size_t from);
int catfwd_usage_prune(struct catalog *cat, int64_t before_day, uint64_t *deleted);
int catfwd_audit_prune(struct catalog *cat, int64_t before, uint64_t *deleted);

/*
 * keygate-repd on the master: the catalog request in r (read past its
 * kind) run on kg, in a session of its own; its whole answer into w,
 * with the commit token of its last transaction.
 */
void catfwd_exec(struct kg *kg, struct replmsg_r *r, struct replmsg_w *w);

/*
 * An answer's commit token, for a replica to wait until it holds the
 * change (answers to catalog, ledger and history requests carry one
 * right after their header): 1 and token filled, 0 none, -1 malformed.
 */
int catfwd_answer_token(const void *answer, size_t len,
    unsigned char token[STORE_TOKEN_LEN]);
/* Writes the token part of an answer (after rmw_answer). */
void catfwd_put_token(struct replmsg_w *w);
/* Reads it, after rmr_answer: 1 and token filled, 0 none, -1 malformed. */
int catfwd_get_token(struct replmsg_r *r, unsigned char token[STORE_TOKEN_LEN]);

#endif
