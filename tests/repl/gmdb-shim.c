/*
 * gmdb-shim.c - an LD_PRELOAD library for tests/repl/membership.sh,
 * loaded into a replica's processes.
 *
 * While the file KG_GMDB_SHIM_FLAG exists, Berkeley DB's replication
 * manager skips the reloads of the group's membership that its message
 * threads make after applying a change of the membership table, as the
 * library itself does when the replica is locked out at that moment
 * (repmgr_msg.c, after __rep_process_message: the "dirty" flag is
 * cleared before __op_rep_enter, whose failure skips the reload).  The
 * reload that DB_ENV->repmgr_start makes on the main thread is never
 * skipped.  Each skip writes a line to standard error.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct __env; /* Berkeley DB's ENV: only passed through */

static pthread_t main_thread;

__attribute__((constructor)) static void
remember_main(void)
{
	main_thread = pthread_self();
}

int __repmgr_reload_gmdb(struct __env *env);

int
__repmgr_reload_gmdb(struct __env *env)
{
	static int (*real)(struct __env *);
	const char *flag = getenv("KG_GMDB_SHIM_FLAG");

	if (flag != NULL && !pthread_equal(pthread_self(), main_thread) &&
	    access(flag, F_OK) == 0) {
		fprintf(stderr, "gmdb-shim: skipped a reload of the group's membership\n");
		return 0;
	}
	if (real == NULL &&
	    (real = (int (*)(struct __env *))dlsym(RTLD_NEXT, "__repmgr_reload_gmdb")) == NULL)
		abort();
	return real(env);
}
