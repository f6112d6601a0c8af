/*
 * pathname.h - the one limit on the paths keygate keeps and builds: the
 * store directory (and every file in it), a backup's directory, the pepper
 * file.  It is checked where such a path arrives (store_open, keygate init,
 * db backup, the config file), and every buffer that holds one, or one
 * joined with a file name of the store, is sized from it: a path that is
 * accepted always fits, and a longer one is refused with one line at
 * start-up, never half-used (opened, then every write failing).
 */
#ifndef KEYGATE_PATHNAME_H
#define KEYGATE_PATHNAME_H

#include <string.h>

/* bytes, without the NUL: far more than a store directory needs */
#define PATHNAME_MAX 1024
#define PATHNAME_TEXT_(n) #n
#define PATHNAME_TEXT(n) PATHNAME_TEXT_(n)
#define PATHNAME_MAX_TEXT PATHNAME_TEXT(PATHNAME_MAX) /* "1024", for messages */
/* "/", the longest file name keygate makes in a store ("keyindex.lock"), the NUL */
#define PATHNAME_FILE_MAX 32
/* a store path joined with the name of one of its files */
#define PATHNAME_BUF (PATHNAME_MAX + PATHNAME_FILE_MAX)

static inline int
pathname_fits(const char *path)
{
	return strlen(path) <= PATHNAME_MAX;
}

#endif
