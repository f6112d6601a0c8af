/*
 * secretfile.h - reading a file that holds a secret (the store's pepper,
 * the vault key): one set of rules for every such file, so that none of
 * them is read more loosely than another.
 */
#ifndef KEYGATE_SECRETFILE_H
#define KEYGATE_SECRETFILE_H

#include <stddef.h>

/*
 * Reads the file at path into buf: opened without following a symbolic
 * link, refused when it is not a regular file, when group or others may
 * write it, when others may read it (0640 root:www-data lets the web
 * server's group read it and nobody else), or when it holds more than max
 * bytes.  0 with *len set, or -1 with a message in err naming the file as
 * what ("pepper file", "vault file") and buf[0..max) wiped.
 */
int secretfile_read(const char *path, const char *what, unsigned char *buf,
    size_t max, size_t *len, char *err, size_t errlen);

#endif
