/*
 * churn.c - decisions stay right while the store changes under load.
 *
 *   churn ADDRESS DB KEYGATE SECONDS [CLIENTS [OPS_PER_SECOND]]
 *
 * ADDRESS is a FastCGI socket (unix:PATH, HOST:PORT), or a URL
 * (http://HOST:PORT/PATH) of a web server with keygate in front.  CLIENTS
 * loader threads (default 4) send requests with random keys while an
 * admin thread runs `keygate key create`, `key revoke` and `org set beta
 * --suspend|--resume` (default 50 operations a second).  Keys belong to
 * org acme (never suspended) or beta.  Every answer is judged against what
 * the CLI had already returned when the request was sent:
 *   - 200 for a key whose revoke had returned, or whose org's suspension
 *     had returned (and no resume started): wrong;
 *   - a denial for a key whose create had returned, not being revoked,
 *     of an org not being suspended, before and after the request: wrong.
 * Exit 0 when no answer was wrong.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgiclient.h"

#define MAXKEYS 4096
#define MAXLOADERS 64

enum kstate { K_NONE, K_LIVE, K_REVOKING, K_REVOKED };
/* beta's state: changing while a suspend or resume command runs */
enum ostate { O_ACTIVE, O_CHANGING, O_SUSPENDED };

struct key {
	char key[300];
	char id[64];
	int state;     /* atomic enum kstate */
	int beta;      /* belongs to the org that gets suspended */
};

static struct key keys[MAXKEYS];
static int nkeys; /* atomic */
static int beta_state; /* atomic enum ostate */
static const char *addr, *db, *keygate;
static char http_host[256], http_path[512];
static int http_port, use_http;
static volatile int done;
static long answers, wrong_200, wrong_deny, errors, suspends;
static pthread_mutex_t statlock = PTHREAD_MUTEX_INITIALIZER;

static int
run_cli(const char *args, char *out, size_t cap)
{
	char cmd[1024];
	FILE *p;
	size_t n = 0;
	int rc;

	char sink[512];

	snprintf(cmd, sizeof cmd, "'%s' --db '%s' %s 2>&1", keygate, db, args);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	/* read everything: a command whose output pipe closes dies of SIGPIPE */
	if (out == NULL) {
		out = sink;
		cap = sizeof sink;
	}
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	while (fread(sink, 1, sizeof sink, p) > 0)
		;
	rc = pclose(p);
	return rc;
}

static void
create_key(void)
{
	char out[512], *nl;
	int i = __atomic_load_n(&nkeys, __ATOMIC_ACQUIRE);

	if (i == MAXKEYS || run_cli(i % 2 ? "key create --org beta" : "key create --org acme",
	    out, sizeof out) != 0)
		return;
	keys[i].beta = i % 2;
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

static void
toggle_beta(void)
{
	int was = __atomic_load_n(&beta_state, __ATOMIC_ACQUIRE);

	__atomic_store_n(&beta_state, O_CHANGING, __ATOMIC_RELEASE);
	if (was == O_ACTIVE) {
		if (run_cli("org set beta --suspend", NULL, 0) == 0) {
			__atomic_store_n(&beta_state, O_SUSPENDED, __ATOMIC_RELEASE);
			suspends++;
		}
	} else if (run_cli("org set beta --resume", NULL, 0) == 0) {
		__atomic_store_n(&beta_state, O_ACTIVE, __ATOMIC_RELEASE);
	}
}

static unsigned ops_interval_us = 20000;

static void *
admin(void *arg)
{
	unsigned seed = (unsigned)time(NULL);
	int round = 0;

	(void)arg;
	while (!done) {
		switch (round++ % 5) {
		case 2:
			revoke_key(&seed);
			break;
		case 4:
			toggle_beta();
			break;
		default:
			create_key();
		}
		usleep(ops_interval_us);
	}
	return NULL;
}

/* One HTTP/1.1 GET with the key, connection closed after: the status. */
static int
http_status(const char *key)
{
	char req[1024], buf[64];
	struct sockaddr_in sa;
	ssize_t n, got = 0;
	int fd, status;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)http_port);
	if (inet_pton(AF_INET, http_host, &sa.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Api-Key: %s\r\n"
	    "Connection: close\r\n\r\n", http_path, http_host, key);
	if (fcgic_write_all(fd, req, (size_t)n) != 0) {
		close(fd);
		return -1;
	}
	while (got < 12 && (n = read(fd, buf + got, sizeof buf - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	if (got < 12 || sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	return status;
}

static int
fcgi_status(const char *key, struct fcgic_params *p, struct fcgic_response *r)
{
	struct fcgic_http h;
	int fd;

	fcgic_params_clear(p);
	fcgic_params_add_str(p, "REQUEST_METHOD", "GET");
	fcgic_params_add_str(p, "REQUEST_URI", "/v1/x");
	fcgic_params_add_str(p, "HTTP_X_API_KEY", key);
	fd = fcgic_connect(addr);
	if (fd < 0 || fcgic_send(fd, 1, FCGIC_AUTHORIZER, 0, p, NULL, 0, 0) != 0 ||
	    fcgic_recv(fd, 1, r, 5000) != 0 ||
	    fcgic_http_parse(r->out.data, r->out.len, &h) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return h.status;
}

static void *
loader(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
	struct fcgic_params p;
	struct fcgic_response r;

	fcgic_params_init(&p);
	fcgic_response_init(&r);
	while (!done) {
		int n = __atomic_load_n(&nkeys, __ATOMIC_ACQUIRE), i, st;
		int kb, ka, ob = O_ACTIVE, oa = O_ACTIVE;

		if (n == 0) {
			usleep(10000);
			continue;
		}
		i = (int)(rand_r(&seed) % (unsigned)n);
		kb = __atomic_load_n(&keys[i].state, __ATOMIC_ACQUIRE);
		if (keys[i].beta)
			ob = __atomic_load_n(&beta_state, __ATOMIC_ACQUIRE);
		st = use_http ? http_status(keys[i].key) : fcgi_status(keys[i].key, &p, &r);
		ka = __atomic_load_n(&keys[i].state, __ATOMIC_ACQUIRE);
		if (keys[i].beta)
			oa = __atomic_load_n(&beta_state, __ATOMIC_ACQUIRE);
		pthread_mutex_lock(&statlock);
		if (st < 0) {
			errors++;
		} else {
			answers++;
			if (st == 200 && (kb == K_REVOKED || (ob == O_SUSPENDED && oa == O_SUSPENDED))) {
				wrong_200++;
				fprintf(stderr, "# 200 for %s (%s)\n", keys[i].id,
				    kb == K_REVOKED ? "revoked" : "org suspended");
			}
			if (st != 200 && kb == K_LIVE && ka == K_LIVE && ob == O_ACTIVE &&
			    oa == O_ACTIVE) {
				wrong_deny++;
				fprintf(stderr, "# %d for live key %s\n", st, keys[i].id);
			}
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
	pthread_t lt[MAXLOADERS], at;
	int i, secs, revoked = 0, loaders = 4, ops = 50;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: churn ADDRESS DB KEYGATE SECONDS [CLIENTS [OPS_PER_SECOND]]\n");
		return 2;
	}
	addr = argv[1];
	db = argv[2];
	keygate = argv[3];
	secs = atoi(argv[4]);
	if (argc > 5)
		loaders = atoi(argv[5]);
	if (argc > 6)
		ops = atoi(argv[6]);
	if (loaders < 1 || loaders > MAXLOADERS || ops < 1 || secs < 1) {
		fprintf(stderr, "churn: bad numbers\n");
		return 2;
	}
	ops_interval_us = 1000000u / (unsigned)ops;
	if (strncmp(addr, "http://", 7) == 0) {
		use_http = 1;
		if (sscanf(addr + 7, "%255[^:]:%d%511s", http_host, &http_port, http_path) != 3) {
			fprintf(stderr, "churn: use http://127.0.0.1:PORT/PATH\n");
			return 2;
		}
	}
	for (i = 0; i < 8; i++)
		create_key();
	pthread_create(&at, NULL, admin, NULL);
	for (i = 0; i < loaders; i++)
		pthread_create(&lt[i], NULL, loader, (void *)(uintptr_t)(i + 1));
	sleep((unsigned)secs);
	done = 1;
	pthread_join(at, NULL);
	for (i = 0; i < loaders; i++)
		pthread_join(lt[i], NULL);
	for (i = 0; i < nkeys; i++)
		revoked += keys[i].state == K_REVOKED;
	printf("# %d s, %d clients: %ld answers, %d keys created, %d revoked, %ld suspensions, "
	    "%ld wrong 200, %ld wrong denials, %ld errors\n", secs, loaders, answers, nkeys,
	    revoked, suspends, wrong_200, wrong_deny, errors);
	printf("%s - no 200 after a revoke or suspension returned\n", wrong_200 ? "not ok" : "ok");
	printf("%s - no denial for a live key\n", wrong_deny ? "not ok" : "ok");
	printf("%s - every request got an answer\n", errors ? "not ok" : "ok");
	/* real traffic, and enough changes to judge (slow under sanitizers) */
	printf("%s - enough load to mean something\n",
	    answers > 500 && revoked >= 10 ? "ok" : "not ok");
	return wrong_200 || wrong_deny || errors || answers <= 500 || revoked < 10;
}
