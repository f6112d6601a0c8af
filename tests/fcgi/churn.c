/*
 * churn.c - decisions stay right while the store changes under load.
 *
 *   churn ADDRESS DB SECONDS
 *
 * Loader threads send requests with random keys to a running authorizer
 * (several processes) while an admin thread runs `keygate key create` and
 * `keygate key revoke` about ten times a second.  Every answer is judged
 * against what the CLI had already returned when the request was sent:
 *   - 200 for a key whose revoke had returned: wrong;
 *   - a denial for a key whose create had returned and whose revoke had
 *     not started by the time the answer came back: wrong.
 * Exit 0 when no answer was wrong.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fcgiclient.h"

#define MAXKEYS 4096
#define LOADERS 4

enum kstate { K_NONE, K_LIVE, K_REVOKING, K_REVOKED };

struct key {
	char key[300];
	char id[64];
	int state;     /* atomic enum kstate */
	uint64_t gen;  /* bumped on each state change */
};

static struct key keys[MAXKEYS];
static int nkeys; /* atomic */
static const char *addr, *db, *keygate;
static volatile int done;
static long answers, wrong_200, wrong_deny, errors;
static pthread_mutex_t statlock = PTHREAD_MUTEX_INITIALIZER;

static int
run_cli(const char *args, char *out, size_t cap)
{
	char cmd[1024];
	FILE *p;
	size_t n = 0;
	int rc;

	snprintf(cmd, sizeof cmd, "'%s' --db '%s' %s 2>&1", keygate, db, args);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	if (out != NULL) {
		n = fread(out, 1, cap - 1, p);
		out[n] = '\0';
	}
	rc = pclose(p);
	return rc;
}

static void
create_key(void)
{
	char out[512], *nl;
	int i = __atomic_load_n(&nkeys, __ATOMIC_ACQUIRE);

	if (i == MAXKEYS || run_cli("key create --org acme", out, sizeof out) != 0)
		return;
	/* stdout: the key; stderr (merged): the id */
	if ((nl = strchr(out, '\n')) == NULL)
		return;
	*nl = '\0';
	snprintf(keys[i].key, sizeof keys[i].key, "%s", out);
	snprintf(keys[i].id, sizeof keys[i].id, "%.*s", (int)strcspn(nl + 1, "\n"), nl + 1);
	__atomic_store_n(&keys[i].state, K_LIVE, __ATOMIC_RELEASE);
	__atomic_store_n(&nkeys, i + 1, __ATOMIC_RELEASE);
}

static void
revoke_key(unsigned *seed)
{
	int n = __atomic_load_n(&nkeys, __ATOMIC_ACQUIRE), i, tries, rc;
	char args[128], out[512];

	for (tries = 0; tries < 20 && n > 0; tries++) {
		i = (int)(rand_r(seed) % (unsigned)n);
		if (__atomic_load_n(&keys[i].state, __ATOMIC_ACQUIRE) != K_LIVE)
			continue;
		__atomic_store_n(&keys[i].state, K_REVOKING, __ATOMIC_RELEASE);
		snprintf(args, sizeof args, "key revoke %s", keys[i].id);
		rc = run_cli(args, out, sizeof out);
		if (rc == 0)
			__atomic_store_n(&keys[i].state, K_REVOKED, __ATOMIC_RELEASE);
		else
			fprintf(stderr, "# revoke %s failed (%d): %s", keys[i].id, rc, out);
		return;
	}
}

static void *
admin(void *arg)
{
	unsigned seed = (unsigned)time(NULL);
	int round = 0;

	(void)arg;
	while (!done) {
		if (round++ % 3 == 2)
			revoke_key(&seed);
		else
			create_key();
		usleep(20000);
	}
	return NULL;
}

static void *
loader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
	struct fcgic_params p;
	struct fcgic_response r;
	struct fcgic_http h;

	fcgic_params_init(&p);
	fcgic_response_init(&r);
	while (!done) {
		int n = __atomic_load_n(&nkeys, __ATOMIC_ACQUIRE), i, before, after, fd;

		if (n == 0) {
			usleep(10000);
			continue;
		}
		i = (int)(rand_r(&seed) % (unsigned)n);
		fcgic_params_clear(&p);
		fcgic_params_add_str(&p, "REQUEST_METHOD", "GET");
		fcgic_params_add_str(&p, "REQUEST_URI", "/v1/x");
		fcgic_params_add_str(&p, "HTTP_X_API_KEY", keys[i].key);
		before = __atomic_load_n(&keys[i].state, __ATOMIC_ACQUIRE);
		fd = fcgic_connect(addr);
		if (fd < 0 || fcgic_send(fd, 1, FCGIC_AUTHORIZER, 0, &p, NULL, 0, 0) != 0 ||
		    fcgic_recv(fd, 1, &r, 5000) != 0 ||
		    fcgic_http_parse(r.out.data, r.out.len, &h) != 0) {
			pthread_mutex_lock(&statlock);
			errors++;
			pthread_mutex_unlock(&statlock);
			if (fd >= 0)
				close(fd);
			continue;
		}
		close(fd);
		after = __atomic_load_n(&keys[i].state, __ATOMIC_ACQUIRE);
		pthread_mutex_lock(&statlock);
		answers++;
		if (h.status == 200 && before == K_REVOKED) {
			wrong_200++;
			fprintf(stderr, "# 200 for %s after its revoke returned\n", keys[i].id);
		}
		if (h.status != 200 && before == K_LIVE && after == K_LIVE) {
			wrong_deny++;
			fprintf(stderr, "# %d for live key %s\n", h.status, keys[i].id);
		}
		pthread_mutex_unlock(&statlock);
	}
	fcgic_params_free(&p);
	fcgic_response_free(&r);
	fcgic_thread_cleanup();
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t lt[LOADERS], at;
	int i, secs, revoked = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: churn ADDRESS DB KEYGATE SECONDS\n");
		return 2;
	}
	addr = argv[1];
	db = argv[2];
	keygate = argv[3];
	secs = atoi(argv[4]);
	for (i = 0; i < 8; i++)
		create_key();
	pthread_create(&at, NULL, admin, NULL);
	for (i = 0; i < LOADERS; i++)
		pthread_create(&lt[i], NULL, loader, (void *)(uintptr_t)(i + 1));
	sleep((unsigned)secs);
	done = 1;
	pthread_join(at, NULL);
	for (i = 0; i < LOADERS; i++)
		pthread_join(lt[i], NULL);
	for (i = 0; i < nkeys; i++)
		revoked += keys[i].state == K_REVOKED;
	printf("# %ld answers, %d keys created, %d revoked, %ld wrong 200, %ld wrong denials, %ld errors\n",
	    answers, nkeys, revoked, wrong_200, wrong_deny, errors);
	printf("%s - no 200 after a revoke returned\n", wrong_200 ? "not ok" : "ok");
	printf("%s - no denial for a live key\n", wrong_deny ? "not ok" : "ok");
	printf("%s - every request got an answer\n", errors ? "not ok" : "ok");
	printf("%s - enough load to mean something\n", answers > 1000 && revoked > 20 ? "ok" : "not ok");
	return wrong_200 || wrong_deny || errors || answers <= 1000 || revoked <= 20;
}
