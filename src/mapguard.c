/*
 * mapguard.c - the SIGBUS handler for guarded mappings.
 *
 * The table is a fixed array of pointers read by the handler without a
 * lock (it may run in any thread, at any instruction); adding and removing
 * take a mutex among themselves only.  A fault outside every guarded range
 * is none of ours: the handler that was there before (the default action,
 * or a web server's own when keygate runs inside one) is put back and the
 * access faults again, as it would have without us.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "mapguard.h"

/* a process maps a counter file, an index and a metrics file, twice at most while swapping */
#define GUARDS_MAX 16

static struct mapguard *guards[GUARDS_MAX];
static pthread_mutex_t guards_lock = PTHREAD_MUTEX_INITIALIZER;
static int installed;
/* What handled SIGBUS before us (a web server's own, inside a module). */
static struct sigaction previous;

static void
on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	char *a = si->si_addr;
	int i;

	(void)uctx;
	for (i = 0; i < GUARDS_MAX; i++) {
		struct mapguard *g = __atomic_load_n(&guards[i], __ATOMIC_ACQUIRE);

		if (g == NULL || a < (char *)g->addr || a >= (char *)g->addr + g->len)
			continue;
		/* mmap is a plain system call: safe here whatever POSIX lists */
		if (mmap(g->addr, g->len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			break;
		g->lost = 1;
		return;
	}
	sigaction(sig, &previous, NULL);
}

static void
install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &previous);
	installed = 1;
}

int
mapguard_add(struct mapguard *g, void *addr, size_t len)
{
	int i, rc = -1;

	g->addr = addr;
	g->len = len;
	g->lost = 0;
	pthread_mutex_lock(&guards_lock);
	if (!installed)
		install();
	for (i = 0; i < GUARDS_MAX; i++) {
		if (guards[i] == NULL) {
			__atomic_store_n(&guards[i], g, __ATOMIC_RELEASE);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&guards_lock);
	return rc;
}

void
mapguard_remove(struct mapguard *g)
{
	int i;

	pthread_mutex_lock(&guards_lock);
	for (i = 0; i < GUARDS_MAX; i++)
		if (guards[i] == g)
			__atomic_store_n(&guards[i], NULL, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&guards_lock);
}

void
mapguard_thread_mask(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGILL);
}
