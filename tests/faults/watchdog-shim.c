/*
 * watchdog-shim.c - an LD_PRELOAD library for tests/faults/watchdog.sh.
 *
 * The watchdog thread of a keygate FastCGI program is the one thread that
 * calls sleep(3); its next clock read is its "now".  This library holds
 * that thread for two seconds after the clock was read (the time read is
 * returned unchanged), as a loaded machine that preempts it there would:
 * whatever the other threads start meanwhile begins after that "now".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

static __thread int woke;

unsigned int
sleep(unsigned int seconds)
{
	unsigned int (*real)(unsigned int) =
	    (unsigned int (*)(unsigned int))dlsym(RTLD_NEXT, "sleep");
	unsigned int left = real(seconds);

	woke = 1;
	return left;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int (*real)(clockid_t, struct timespec *) =
	    (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	int rc = real(id, ts);

	if (woke && id == CLOCK_MONOTONIC) {
		struct timespec hold = {2, 0};

		woke = 0;
		nanosleep(&hold, NULL);
	}
	return rc;
}
