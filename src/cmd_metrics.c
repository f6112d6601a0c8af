/*
 * cmd_metrics.c - keygate metrics: what the store's FastCGI programs
 * counted, summed over their processes, in the Prometheus text format
 * (metrics.h).  It reads the metrics file and nothing else: it answers
 * while the store is broken, when it is wanted most, and never joins the
 * Berkeley DB environment.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "metrics.h"

static int
is_store(const char *dir)
{
	char path[PATHNAME_BUF];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, store_tbl_name(TBL_META));
	return stat(path, &st) == 0;
}

int
cmd_metrics(struct cli *c, int argc, char **argv)
{
	static char text[METRICS_TEXT_MAX];
	struct metrics_snapshot s;
	struct metrics *m;
	struct args a;
	char err[600];
	int code, n, missing;

	if ((code = cli_parse(c, argc, argv, NULL, 0, 0, "metrics", &a)) != EX_OK)
		return code;
	if ((code = cli_locate(c)) != EX_OK)
		return code;
	if ((m = metrics_open_read(c->dir, err, sizeof err)) != NULL) {
		n = metrics_render(m, text, sizeof text);
		metrics_close(m);
	} else {
		missing = errno == ENOENT;
		if (!is_store(c->dir))
			return cli_fail(EX_STORE, "no keygate store in %s", c->dir);
		if (!missing)
			return cli_fail(EX_STORE, "%s", err);
		/* a store whose programs have not run yet: nothing counted */
		memset(&s, 0, sizeof s);
		n = metrics_format(&s, text, sizeof text);
	}
	if (n < 0)
		return cli_fail(EX_STORE, "%s/%s was truncated or replaced while being read",
		    c->dir, METRICS_FILE);
	fwrite(text, 1, (size_t)n, stdout);
	return EX_OK;
}
