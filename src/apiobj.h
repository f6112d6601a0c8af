/*
 * apiobj.h - keygate's objects as JSON: the key object, an organization,
 * a plan, a day of usage.  keygate-api answers with them, so their fields
 * and names live here once (keygate-api(8) documents them).
 */
#ifndef KEYGATE_APIOBJ_H
#define KEYGATE_APIOBJ_H

#include <stdint.h>

#include "catalog.h"
#include "json.h"
#include "record.h"

/*
 * The key object: id, name, org, user, mode, display, scopes, created_at,
 * expires_at, revoked_at, last_used_at, rate, rules, replaced_by; times
 * RFC 3339 UTC, absent values null.  Never a digest, never the secret.
 */
void apiobj_key(struct json *j, const struct key_rec *k, int64_t last_used_at);
/* The key object's fields inside an object already begun (for "replaces"). */
void apiobj_key_fields(struct json *j, const struct key_rec *k, int64_t last_used_at);

/* An organization: id, name, plan, state ("active"|"suspended"), created_at. */
void apiobj_org(struct json *j, const char *id, const struct org_rec *o);

/* A plan: name, rate, quota, max_keys, overage, rules, created_at, updated_at. */
void apiobj_plan(struct json *j, const struct plan_rec *p);

/* A rate limit as text ("100/s"), or null. */
void apiobj_rate(struct json *j, const struct rate_spec *r);

/* A day of history: date, allowed, denied {code: n}, quota_used, last_used_at. */
void apiobj_day(struct json *j, int64_t day, const struct history_rec *h);

/* "active", "expired" or "revoked" at now. */
const char *apiobj_key_state(const struct key_rec *k, int64_t now);

#endif
