/*
 * repl.h - Berkeley DB's replication manager (repmgr), as keygate-repd
 * runs it: this host's site of a replication group, its elections, its
 * message channel to the master, and what the other processes of the
 * host may ask about it (the role, how far the copy has come).
 *
 * One process per host owns the site (keygate-repd, the store opened
 * with STORE_REPL_OWNER); every other process joins the environment as
 * it does a standalone store and only reads.  What the library does and
 * does not do, and how keygate works around it, is in doc/DESIGN.md
 * (section 15).
 */
#ifndef KEYGATE_REPL_H
#define KEYGATE_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define REPL_HOST_MAX 255
#define REPL_SITES_MAX 16     /* sites a status shows; groups of 3 to 7 are the aim */
#define REPL_PRIORITY_MAX 1000

struct repl_addr {
	char host[REPL_HOST_MAX + 1];
	unsigned port;
};

enum repl_role { REPL_ROLE_NONE, REPL_ROLE_MASTER, REPL_ROLE_CLIENT };

enum repl_event {
	REPL_EV_MASTER,          /* this site became the master */
	REPL_EV_CLIENT,          /* this site became a client */
	REPL_EV_NEWMASTER,       /* another site is the master (eid) */
	REPL_EV_STARTUPDONE,     /* caught up with the master */
	REPL_EV_INIT_DONE,       /* an internal initialisation (a full copy) ended */
	REPL_EV_DUPMASTER,       /* two masters met: this one stepped down */
	REPL_EV_ELECTION_FAILED,
	REPL_EV_MASTER_FAILURE,  /* the master was lost */
	REPL_EV_CONNECTED,       /* eid */
	REPL_EV_DISCONNECTED,    /* eid */
	REPL_EV_PERM_FAILED,     /* a commit was not acknowledged by a quorum */
	REPL_EV_JOIN_FAILURE,
	REPL_EV_REMOVED,         /* this site was removed from the group */
	REPL_EV_PANIC,           /* the environment is dead (DB_RUNRECOVERY) */
	REPL_EV_OTHER
};

struct repl_setup {
	struct repl_addr local;
	struct repl_addr peers[REPL_SITES_MAX];
	size_t npeers;
	unsigned priority;   /* 0: never master */
	int create_group;    /* the first start of the group's first site */
};

struct repl_ops {
	void *ctx;
	/*
	 * A request from another site's keygate-repd (repl_request_master).
	 * *reply: malloc'd (freed by the caller), or NULL for an empty one.
	 * Runs on one of the replication manager's message threads.
	 */
	void (*request)(void *ctx, const void *msg, size_t len, void **reply,
	    size_t *rlen);
	/* An event, on a replication manager thread; eid or -1. */
	void (*event)(void *ctx, enum repl_event e, int eid);
};

/*
 * Configures the replication manager of s (opened STORE_REPL_OWNER) and
 * starts it: every setting is made after the environment is open and
 * read back (regions that outlived their processes keep old ones).  0,
 * or -1 with err set.
 */
int repl_start(struct store *s, const struct repl_setup *setup,
    const struct repl_ops *ops, char *err, size_t errlen);
/* Stops the manager's channels (before store_close or store_reopen). */
void repl_stop(struct store *s);
/*
 * Waits up to wait_ms for the threads still opening a channel to a site
 * that did not answer (repl_request_master gave up on them): 0 once none
 * is left and the environment may be closed; -1 if some still are.
 */
int repl_drain(unsigned wait_ms);
/* Removes this site from the group (asking the master): 0, or -1. */
int repl_leave(struct store *s, const struct repl_addr *local);

enum repl_send {
	REPL_SENT,        /* *reply holds the master's answer */
	REPL_NO_MASTER,   /* no master known or reachable: nothing was sent */
	REPL_TIMEOUT,     /* sent, no answer in time: the outcome is unknown */
	REPL_LOST,        /* sent, and the connection was lost before the answer: unknown too */
	REPL_SEND_ERROR
};
/* A request to the master's keygate-repd and its answer (malloc'd). */
enum repl_send repl_request_master(struct store *s, const void *msg, size_t len,
    unsigned timeout_ms, void **reply, size_t *rlen);

/* Whether this thread's last commit missed its quorum of acknowledgements. */
void repl_perm_reset(void);
int repl_perm_failed(void);

struct repl_site {
	int eid;
	struct repl_addr addr;
	int connected;
};

/* The replication settings in force, as the library reads them back. */
struct repl_settings {
	int quorum_acks;         /* acknowledgements from a majority */
	int bulk;                /* DB_REP_CONF_BULK */
	int nowait;              /* DB_REP_CONF_NOWAIT */
	int elections;           /* repmgr holds elections */
	unsigned ack_timeout_ms;
	unsigned heartbeat_send_ms, heartbeat_monitor_ms;
	unsigned election_timeout_ms;
	unsigned checkpoint_delay_ms;
};

struct repl_info {
	enum repl_role role;
	int self_eid;
	int master_eid;          /* -1: none known */
	int startup_done;        /* a client that has caught up */
	/*
	 * The last permanent (committed) record of the log, as the library
	 * keeps it (st_max_perm_lsn): a master's log can end with records
	 * sent only with the next commit, and a replica holds everything
	 * there is to hold once its log ends past this.
	 */
	uint64_t perm_lsn;
	int initialising;        /* a client receiving a full copy */
	unsigned group_size;     /* sites of the group, this one included */
	uint64_t lsn;            /* the end of this site's log: file << 32 | offset */
	unsigned priority;
	unsigned long long elections, dupmasters;
	uint32_t gen;            /* the group's generation as this site knows it */
	size_t nsites;           /* the other sites (keygate-repd only) */
	struct repl_site sites[REPL_SITES_MAX];
};
/*
 * What Berkeley DB says of this site.  Any process of the store may ask;
 * the other sites are listed only in keygate-repd.  0, or -1.
 */
int repl_info(struct store *s, struct repl_info *out);
/*
 * Whether Berkeley DB has locked this site's operations out now (a
 * rollback, a full copy or a change of role under way, during which a
 * read fails at once with DB_REP_LOCKOUT): 1, 0, or -1 when it cannot
 * tell.  Asks by beginning a transaction and aborting it, which on any
 * site writes nothing.
 */
int repl_locked_out(struct store *s);
/*
 * Whether a full copy of the store is under way in dir, or was cut short
 * (its next open then starts it again): Berkeley DB marks it with the
 * file __db.rep.init for as long as it lasts.
 */
int repl_copy_marked(const char *dir);
/*
 * The settings the environment's regions hold now, whoever made them
 * (`keygate repl status` shows them): 0, or -1.
 */
int repl_settings(struct store *s, struct repl_settings *out);

/* This site's role as Berkeley DB knows it (REPL_ROLE_NONE: not replicated). */
enum repl_role repl_role(struct store *s);
/* The end of this site's log (file << 32 | offset): 2-4 us, for polling. */
int repl_log_position(struct store *s, uint64_t *lsn);

/*
 * Waits up to timeout_ms until the transaction of token is applied here:
 * 0 applied, 1 not yet, -1 never (rolled back by a new master) or not to
 * be known here (a master asked about another generation), -2 error.
 */
int repl_wait_applied(struct store *s, const unsigned char token[STORE_TOKEN_LEN],
    unsigned timeout_ms);

#endif
