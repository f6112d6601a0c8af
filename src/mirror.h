/*
 * mirror.h - a replica's derived state follows replication.  Changes
 * arrive in the store's tables without any process of the host running
 * the catalog, so nobody would mirror them into the key index nor bump
 * the counters' generation that the authorizers' caches hang on.  The
 * host's keygate-repd does, every few milliseconds:
 *
 * - the end of the log (2-4 us to read) tells whether anything arrived;
 * - the meta record's generation moving bumps the counter file's (org
 *   and plan caches of every worker drop at their next request);
 * - the audit trail, read forwards from the last record mirrored, names
 *   every key and organization a change touched (catalog.h: one record
 *   per change, in its transaction; audit keys grow with commit order,
 *   audit.c), each mirrored under keyindex.lock with the odd-sequence
 *   protocol (doc/DESIGN.md, section 4);
 * - anything it cannot follow record by record (an import, a rollback, a
 *   full copy from the master, a start) rebuilds the index instead.
 */
#ifndef KEYGATE_MIRROR_H
#define KEYGATE_MIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "ctx.h"

struct mirror;

struct mirror *mirror_new(void);
void mirror_free(struct mirror *m);
/* Trust nothing mirrored so far: the next pass rebuilds the index. */
void mirror_reset(struct mirror *m);
/*
 * Brings kg's key index and generation up to its store: 0 when nothing
 * had changed, 1 when something was mirrored, -1 with err set (the
 * store's result in *st: ST_RECOVER means the store must be reopened).
 */
int mirror_pass(struct mirror *m, struct kg *kg, int *st, char *err, size_t errlen);
/*
 * The end of the log (repl_log_position) at the start of the last pass
 * that left nothing behind: every change before it is in the index and
 * the generation.  0 while the index is to be rebuilt.
 */
uint64_t mirror_followed(const struct mirror *m);

#endif
