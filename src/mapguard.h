/*
 * mapguard.h - surviving a mapped file that shrinks under us.
 *
 * The counter file and the key index are mapped MAP_SHARED by every
 * process.  Anyone who can write the store directory can truncate them
 * (`truncate -s 0 DB/keyindex`), and the next access past the new end of
 * file raises SIGBUS, which would kill an authorizer in the middle of a
 * request.  Registered mappings are protected: on SIGBUS inside one, the
 * handler replaces the whole range with private zero pages (so the
 * faulting access completes and reads zeros) and marks the guard lost.
 * The owner checks mapguard_lost() after each use and throws away what it
 * read: derived files are rebuilt, never trusted after a fault.
 */
#ifndef KEYGATE_MAPGUARD_H
#define KEYGATE_MAPGUARD_H

#include <signal.h>
#include <stddef.h>

struct mapguard {
	void *addr;
	size_t len;
	volatile sig_atomic_t lost;
};

/* Protects [addr, addr + len); 0, or -1 when too many ranges are guarded. */
int mapguard_add(struct mapguard *g, void *addr, size_t len);
/* Stops protecting g: call before munmap. */
void mapguard_remove(struct mapguard *g);
/*
 * Every signal but those a fault raises (SIGBUS, SIGSEGV, SIGFPE, SIGILL):
 * the mask for a background thread.  A fault raised in a thread that
 * blocks its signal is not delivered to any handler: the kernel kills the
 * process, so a guarded mapping would not be guarded in that thread.
 */
void mapguard_thread_mask(sigset_t *set);

static inline int
mapguard_lost(const struct mapguard *g)
{
	return g->lost != 0;
}

#endif
