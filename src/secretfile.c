/*
 * secretfile.c - the rules for files that hold secrets.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "secretfile.h"

/* Why the open file fd may not hold a secret, or NULL. */
static const char *
unsafe(int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return "is not a regular file";
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return "is writable by group or others (chmod 0640)";
	if (st.st_mode & S_IROTH)
		return "is readable by others (chmod 0640)";
	return NULL;
}

int
secretfile_read(const char *path, const char *what, unsigned char *buf,
    size_t max, size_t *len, char *err, size_t errlen)
{
	const char *why;
	unsigned char more;
	size_t got = 0;
	ssize_t r = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "cannot open the %s %s: %s", what, path,
		    errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		return -1;
	}
	if ((why = unsafe(fd)) != NULL) {
		snprintf(err, errlen, "the %s %s %s", what, path, why);
		goto fail;
	}
	while (got < max && ((r = read(fd, buf + got, max - got)) > 0 ||
	    (r < 0 && errno == EINTR)))
		if (r > 0)
			got += (size_t)r;
	/* one byte more tells a file of exactly max bytes from a longer one */
	while (r >= 0 && got == max && (r = read(fd, &more, 1)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		snprintf(err, errlen, "cannot read the %s %s: %s", what, path, strerror(errno));
		goto fail;
	}
	if (got == max && r > 0) {
		OPENSSL_cleanse(&more, sizeof more);
		snprintf(err, errlen, "the %s %s is larger than %zu bytes", what, path, max);
		goto fail;
	}
	close(fd);
	*len = got;
	return 0;
fail:
	close(fd);
	OPENSSL_cleanse(buf, max);
	return -1;
}
