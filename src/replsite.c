/*
 * replsite.c - a host's site of a replication group (replsite.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catfwd.h"
#include "ledger.h"
#include "pathname.h"
#include "repl.h"
#include "replsite.h"
#include "store.h"
#include "tally.h"

const char *
replsite_addr_str(const struct repl_addr *a, char *buf, size_t n)
{
	if (strchr(a->host, ':') != NULL)
		snprintf(buf, n, "[%s]:%u", a->host, a->port);
	else
		snprintf(buf, n, "%s:%u", a->host, a->port);
	return buf;
}

static struct addrinfo *
resolve(const struct repl_addr *a, int passive)
{
	struct addrinfo hints, *res = NULL;
	char port[8];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	snprintf(port, sizeof port, "%u", a->port);
	return getaddrinfo(a->host, port, &hints, &res) == 0 ? res : NULL;
}

/*
 * An address is this host's when a socket can be bound to it (on another
 * port: the site's own may be in use by a running keygate-repd).
 */
int
replsite_addr_local(const struct repl_addr *a, char *err, size_t errlen)
{
	struct addrinfo *res = resolve(a, 1), *ai;
	char buf[REPL_HOST_MAX + 16];
	int fd, ok = 0;

	if (res == NULL) {
		snprintf(err, errlen, "repl_site %s: the host name does not resolve",
		    replsite_addr_str(a, buf, sizeof buf));
		return -1;
	}
	for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
		struct sockaddr_storage ss;

		if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			continue;
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = 0;
		else if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = 0;
		ok = bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	if (!ok) {
		snprintf(err, errlen, "repl_site %s is not an address of this host "
		    "(repl_site names this host, repl_peers the others)",
		    replsite_addr_str(a, buf, sizeof buf));
		return -1;
	}
	return 0;
}

static int
answers(const struct repl_addr *a, unsigned timeout_ms)
{
	struct addrinfo *res = resolve(a, 0), *ai;
	int fd, ok = 0;

	for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
		struct pollfd p;
		socklen_t len = sizeof ok;
		int e = 0;

		if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			ok = 1;
		} else if (errno == EINPROGRESS) {
			p.fd = fd;
			p.events = POLLOUT;
			if (poll(&p, 1, (int)timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0)
				ok = 1;
		}
		close(fd);
	}
	if (res != NULL)
		freeaddrinfo(res);
	return ok;
}

int
replsite_probe(const struct repl_addr *peers, size_t n, unsigned timeout_ms)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (answers(&peers[i], timeout_ms))
			return (int)i;
	return -1;
}

int
replsite_lock(const char *dir, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, REPLSITE_LOCK);
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660)) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "another process owns this host's site of the group "
		    "(%s is locked: keygate-repd, or keygate repl join, is running)", path);
		close(fd);
		return -1;
	}
	return fd;
}

int
replsite_mark(const char *dir, char *err, size_t errlen)
{
	char path[PATHNAME_BUF];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, STORE_REPL_MARKER);
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660);
	if (fd < 0 || write(fd, "keygate-repd(8)\n", 16) != 16 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Files of a store: tables, logs, regions, the marker; locks and sockets are not. */
static int
store_file(const char *name)
{
	size_t n = strlen(name);

	return (n > 3 && strcmp(name + n - 3, ".db") == 0) || strncmp(name, "log.", 4) == 0 ||
	    strncmp(name, "__db", 4) == 0 || strcmp(name, STORE_REPL_MARKER) == 0 ||
	    strcmp(name, "counters") == 0 || strcmp(name, "keyindex") == 0;
}

int
replsite_empty(const char *dir, char *err, size_t errlen)
{
	struct dirent *e;
	DIR *d;
	int empty = 1;

	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	while (empty && (e = readdir(d)) != NULL) {
		if (store_file(e->d_name)) {
			snprintf(err, errlen, "%s is not empty (it holds %s): a site joins with an "
			    "empty store", dir, e->d_name);
			empty = 0;
		}
	}
	closedir(d);
	return empty;
}

/* ---- status ---- */

const char *
replsite_role_name(enum repl_role r)
{
	return r == REPL_ROLE_MASTER ? "master" : r == REPL_ROLE_CLIENT ? "replica" : "unknown";
}

const char *
replsite_state_name(enum replsite_state s)
{
	static const char *const names[] = {"unknown", "ready", "behind", "starting"};

	return (unsigned)s < 4 ? names[s] : "unknown";
}

void
replsite_put_status_info(struct replmsg_w *w, const struct replsite_info *i)
{
	rmw_str(w, i->addr.host);
	rmw_u32(w, i->addr.port);
	rmw_u8(w, i->role);
	rmw_u8(w, i->state);
	rmw_u8(w, i->connected != 0);
	rmw_u64(w, i->lsn);
	rmw_u64(w, i->lag_ns);
	rmw_u64(w, i->age_ms);
}

void
replsite_get_status_info(struct replmsg_r *r, struct replsite_info *i)
{
	snprintf(i->addr.host, sizeof i->addr.host, "%s", rmr_str(r, REPL_HOST_MAX));
	i->addr.port = rmr_u32(r);
	i->role = (enum repl_role)rmr_u8(r);
	i->state = (enum replsite_state)rmr_u8(r);
	i->connected = rmr_flag(r);
	i->lsn = rmr_u64(r);
	i->lag_ns = rmr_u64(r);
	i->age_ms = rmr_u64(r);
	if (i->role > REPL_ROLE_CLIENT || i->state > SITE_STARTING || i->addr.port > 65535)
		r->failed = 1;
}

void
replsite_put_status(struct replmsg_w *w, const struct replsite_status *st)
{
	size_t i;

	replsite_put_status_info(w, &st->self);
	rmw_u8(w, st->have_master != 0);
	rmw_str(w, st->have_master ? st->master.host : "");
	rmw_u32(w, st->have_master ? st->master.port : 0);
	rmw_u32(w, st->group_size);
	rmw_u32(w, st->priority);
	rmw_u64(w, st->elections);
	rmw_u8(w, st->settings.quorum_acks != 0);
	rmw_u8(w, st->settings.bulk != 0);
	rmw_u8(w, st->settings.nowait != 0);
	rmw_u8(w, st->settings.elections != 0);
	rmw_u32(w, st->settings.ack_timeout_ms);
	rmw_u32(w, st->settings.heartbeat_send_ms);
	rmw_u32(w, st->settings.heartbeat_monitor_ms);
	rmw_u32(w, st->settings.election_timeout_ms);
	rmw_u32(w, st->settings.checkpoint_delay_ms);
	rmw_u32(w, (uint32_t)st->nsites);
	for (i = 0; i < st->nsites; i++)
		replsite_put_status_info(w, &st->sites[i]);
}

int
replsite_get_status(struct replmsg_r *r, struct replsite_status *st)
{
	uint32_t i, n;

	memset(st, 0, sizeof *st);
	replsite_get_status_info(r, &st->self);
	st->have_master = rmr_flag(r);
	snprintf(st->master.host, sizeof st->master.host, "%s", rmr_str(r, REPL_HOST_MAX));
	st->master.port = rmr_u32(r);
	st->group_size = rmr_u32(r);
	st->priority = rmr_u32(r);
	st->elections = rmr_u64(r);
	st->settings.quorum_acks = rmr_flag(r);
	st->settings.bulk = rmr_flag(r);
	st->settings.nowait = rmr_flag(r);
	st->settings.elections = rmr_flag(r);
	st->settings.ack_timeout_ms = rmr_u32(r);
	st->settings.heartbeat_send_ms = rmr_u32(r);
	st->settings.heartbeat_monitor_ms = rmr_u32(r);
	st->settings.election_timeout_ms = rmr_u32(r);
	st->settings.checkpoint_delay_ms = rmr_u32(r);
	n = rmr_u32(r);
	/* without a master, its address is written empty */
	if (n > REPL_SITES_MAX || st->master.port > 65535 || (!st->have_master &&
	    (st->master.host[0] != '\0' || st->master.port != 0)))
		return -1;
	for (i = 0; i < n; i++)
		replsite_get_status_info(r, &st->sites[i]);
	st->nsites = n;
	return rmr_done(r) ? 0 : -1;
}

int
replsite_get_gossip(struct replmsg_r *r, uint64_t *master_lsn,
    struct replsite_info sites[REPLSITE_GOSSIP_MAX], size_t *n)
{
	uint32_t i, count;

	*n = 0;
	*master_lsn = rmr_u64(r);
	count = rmr_u32(r);
	if (r->failed || count == 0 || count > REPLSITE_GOSSIP_MAX)
		return -1;
	for (i = 0; i < count; i++)
		replsite_get_status_info(r, &sites[i]);
	if (!rmr_done(r))
		return -1;
	*n = count;
	return 0;
}

void
replsite_execute(struct kg *kg, int kind, struct replmsg_r *r, struct replmsg_w *w,
    pthread_mutex_t *cat_mu)
{
	switch (kind) {
	case RM_CATALOG:
		if (cat_mu != NULL)
			pthread_mutex_lock(cat_mu);
		catfwd_exec(kg, r, w);
		if (cat_mu != NULL)
			pthread_mutex_unlock(cat_mu);
		break;
	case RM_LEDGER:
	case RM_HISTORY:
		repl_perm_reset();
		if (kind == RM_LEDGER)
			ledger_apply_flush(kg->store, r, w);
		else
			tally_apply(kg->store, r, w);
		if (repl_perm_failed()) {
			/*
			 * Committed here, but no quorum confirmed it: a master
			 * cut off from the others commits alone, and the majority
			 * that elects another master rolls it back when they meet.
			 * A host told its report went through would go on
			 * admitting on the group's old totals without bound; told
			 * it did not, it sends it again (a flush holds absolute
			 * counts, a history batch is written once) and, after
			 * LEDGER_REPORT_STALE_NS, refuses quota decisions.
			 */
			rmw_free(w);
			rmw_init(w);
			rmw_answer(w, RS_UNKNOWN, "the master's commit was not confirmed by a quorum "
			    "of sites");
		}
		break;
	default:
		rmw_answer(w, RS_REFUSED, "an unknown request");
		break;
	}
}
