/*
 * storeint.h - inside the store layer: what store.c (the environment,
 * tables, transactions) and repl.c (the replication manager) share.  No
 * other file includes it, so that Berkeley DB stays behind store.h and
 * repl.h: an engine change stays in these two files.
 */
#ifndef KEYGATE_STOREINT_H
#define KEYGATE_STOREINT_H

#include <sys/types.h>

#include <db.h>

#include "store.h"

struct repl;

struct store {
	char dir[PATHNAME_MAX + 1];
	unsigned flags;
	DB_ENV *env;
	DB *db[TBL_COUNT];
	int tables_open;
	int broken;
	int dead;      /* broken by DB_RUNRECOVERY, not a replaced handle */
	char errmsg[512];
	/* the primary region file this handle mapped, to notice it replaced */
	struct store_region own_region;
	struct store_region *region; /* own_region, or the caller's (store_region_share) */
	int lockfd; /* DIR/keygate.lock, held shared while attached */
	unsigned recoveries; /* opens of this handle that ran recovery */
	int replicated;      /* DIR/STORE_REPL_MARKER exists: DB_INIT_REP */
	struct repl *repl;   /* keygate-repd's replication manager, or NULL */
};

/* Maps a Berkeley DB return to ours, remembering what went wrong. */
int store_classify(struct store *s, int ret, const char *what);

#endif
