/*
 * counters.h - the hot counters every authorizer process on a host shares:
 * rate-limit state per key, quota usage per organisation, and last use per
 * key.  They live in a file in the store directory, mapped MAP_SHARED, and
 * change only by atomic compare-and-swap: ~10 ns against ~80 us for a
 * contended Berkeley DB transaction (../shared/FACTS.md), no lock that a
 * killed process could leave held, and nothing to recover after a crash.
 * The file is host-local state; it is not replicated with the databases.
 */
#ifndef KEYGATE_COUNTERS_H
#define KEYGATE_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "apikey.h"
#include "pathname.h"
#include "policy.h"

#define COUNTERS_FILE "counters"
#define COUNTERS_DEFAULT_SLOTS (1u << 20) /* 32 MiB: half a million live keys */

struct counters;
struct counter_slot;

int counters_create(const char *dir, uint32_t nslots, char *err, size_t errlen);
struct counters *counters_open(const char *dir, char *err, size_t errlen);
void counters_close(struct counters *c);
uint32_t counters_nslots(const struct counters *c);

/*
 * The generation of organizations and plans on this host: the CLI bumps it
 * after committing any change to one, so that authorizers can cache them
 * and still see a change on the very next request.
 */
uint64_t counters_generation(const struct counters *c);
void counters_bump_generation(struct counters *c);
uint32_t counters_used(const struct counters *c);

/*
 * The key index's anchor (keyindex.h): its sequence number, odd while a
 * writer is at work, and the id of the index file that is current.  It
 * lives here, next to the generation, because this file is never
 * replaced: a reader that still maps an index file someone deleted or
 * rebuilt sees that its id is no longer the current one.
 */
struct keyindex_anchor {
	uint64_t seq;
	uint64_t id;
};
struct keyindex_anchor *counters_index_anchor(struct counters *c);

uint64_t counters_key_tag(const unsigned char digest[DIGEST_LEN]);
uint64_t counters_org_tag(const char *org);
/* The slot of tag; with create, claims a free one.  NULL: not found / full. */
struct counter_slot *counters_find(struct counters *c, uint64_t tag, int create);

void counters_rate(struct counter_slot *s, const struct rate_spec *r,
    uint64_t now_ns, int consume, struct rate_result *res);
void counters_quota(struct counter_slot *s, enum quota_period kind,
    uint64_t quota, uint32_t overage_pct, int64_t now_s, int consume,
    struct quota_result *res);
/* Units used by the org slot in the period with this id (current or previous). */
uint64_t counters_quota_used(struct counter_slot *s, uint32_t period_id);
/* Records a use; writes only when the stored time is 30 s old or more. */
void counters_touch(struct counter_slot *s, int64_t now_s);
int64_t counters_last_used(struct counter_slot *s);

#endif
