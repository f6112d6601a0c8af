/*
 * replsite.h - what keygate-repd and `keygate repl join` share about a
 * host's site of a replication group: the checks that refuse a
 * misconfiguration before anything changes, the lock that makes one
 * process the site's owner, and the status every site reports.
 */
#ifndef KEYGATE_REPLSITE_H
#define KEYGATE_REPLSITE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "ctx.h"
#include "repl.h"
#include "replmsg.h"

/* Held exclusively by the process that owns the site (keygate-repd, a join). */
#define REPLSITE_LOCK "repl.lock"

/* "HOST:PORT" ("[v6]:PORT") of a into buf. */
const char *replsite_addr_str(const struct repl_addr *a, char *buf, size_t n);
/* 0 when a names an address of this host (it can be bound), else -1 and err. */
int replsite_addr_local(const struct repl_addr *a, char *err, size_t errlen);
/* The first of peers that accepts a TCP connection within timeout_ms, or -1. */
int replsite_probe(const struct repl_addr *peers, size_t n, unsigned timeout_ms);
/* The owner's lock (not waiting): its descriptor, or -1 with err set. */
int replsite_lock(const char *dir, char *err, size_t errlen);
/* Marks dir's store replicated (STORE_REPL_MARKER): 0, or -1 with err. */
int replsite_mark(const char *dir, char *err, size_t errlen);
/*
 * Whether dir holds nothing of a store (no table, log or marker): what
 * `keygate repl join` starts from.  1 empty, 0 not (err names what is
 * there), -1 with err when it cannot be read.
 */
int replsite_empty(const char *dir, char *err, size_t errlen);

/* ---- the status of a site and of the group it sees ---- */

enum replsite_state {
	SITE_UNKNOWN = 0, /* not heard of lately */
	SITE_READY,       /* up to date: deciding */
	SITE_BEHIND,      /* initialising or far behind: answering 503 */
	SITE_STARTING     /* keygate-repd is opening the store or joining */
};

struct replsite_info {
	struct repl_addr addr;
	enum repl_role role;
	enum replsite_state state;
	int connected;      /* to the site that reports */
	uint64_t lsn;
	uint64_t lag_ns;
	uint64_t age_ms;    /* since its state was last heard; UINT64_MAX: never */
};

struct replsite_status {
	struct replsite_info self;
	int have_master;
	struct repl_addr master;
	unsigned group_size;
	unsigned priority;
	unsigned long long elections;
	struct repl_settings settings;
	size_t nsites;      /* the other sites */
	struct replsite_info sites[REPL_SITES_MAX];
};

void replsite_put_status(struct replmsg_w *w, const struct replsite_status *st);
void replsite_put_status_info(struct replmsg_w *w, const struct replsite_info *i);
/* On a malformed one, r->failed is set. */
void replsite_get_status_info(struct replmsg_r *r, struct replsite_info *i);
int replsite_get_status(struct replmsg_r *r, struct replsite_status *st);
/*
 * The master's answer to a replica's state (after its header): the
 * position of its last committed record and the sites it knows, itself first (up to REPL_SITES_MAX
 * others).  0, or -1 when any of it is malformed: nothing of it is used.
 */
#define REPLSITE_GOSSIP_MAX (REPL_SITES_MAX + 1)
int replsite_get_gossip(struct replmsg_r *r, uint64_t *master_lsn,
    struct replsite_info sites[REPLSITE_GOSSIP_MAX], size_t *n);

/*
 * On the master, a write that replmsg_route let through (RR_WRITE): run
 * with the catalog, the ledger or the tally, its whole answer into w.
 * cat_mu (may be NULL) is held around a catalog operation (one at a
 * time: the digester, keyindex.lock).
 */
void replsite_execute(struct kg *kg, int kind, struct replmsg_r *r, struct replmsg_w *w,
    pthread_mutex_t *cat_mu);
const char *replsite_role_name(enum repl_role r);
const char *replsite_state_name(enum replsite_state s);

#endif
