/* keys.c - the per-database key files. Every database has its own random 256-bit SQLCipher raw
 * key, stored only wrapped under the node's master key: <name>.key = 24-byte random nonce +
 * XChaCha20-Poly1305(master key, nonce, AD = database name, database key) (32-byte ciphertext +
 * 16-byte tag). Binding the name as associated data means a key file copied or renamed to
 * another database fails to unwrap instead of silently keying the wrong file. Files are written
 * atomically (tmp + fsync + rename + fsync of the directory) with mode 0600 so a crash never
 * leaves a half-written key beside a database. Plain key bytes live only in caller buffers that
 * are wiped with sodium_memzero after use.
 */
#include "store_int.h"
#include "common/err.h"
#include "common/log.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void store__key_wrap(const uint8_t *mkey, const char *dbname, const uint8_t *dbkey,
                     uint8_t out[STORE_WRAPPED_LEN])
{
	unsigned long long clen = 0;
	randombytes_buf(out, STORE_NONCEBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + STORE_NONCEBYTES, &clen, dbkey,
	                                           STORE_KEYBYTES, (const uint8_t *)dbname,
	                                           strlen(dbname), NULL, out, mkey);
}

int store__key_unwrap(const uint8_t *mkey, const char *dbname, const uint8_t *in, size_t len,
                      uint8_t *dbkey)
{
	unsigned long long mlen = 0;
	if (len != STORE_WRAPPED_LEN)
		return MR_ECORRUPT;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
	        dbkey, &mlen, NULL, in + STORE_NONCEBYTES, len - STORE_NONCEBYTES,
	        (const uint8_t *)dbname, strlen(dbname), in, mkey) != 0 ||
	    mlen != STORE_KEYBYTES) {
		sodium_memzero(dbkey, STORE_KEYBYTES);
		return MR_EKEY;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return MR_EIO;
	int rv = fsync(fd) == 0 ? 0 : MR_EIO;
	close(fd);
	return rv;
}

int store__file_write_atomic(const char *path, const void *data, size_t len)
{
	char *tmp = xasprintf("%s.tmp", path);
	int rv = MR_EIO;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_error(STORE_COMPONENT, "create failed path=%s err=%s", tmp, strerror(errno));
		goto err;
	}
	const uint8_t *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error(STORE_COMPONENT, "write failed path=%s err=%s", tmp,
			          strerror(errno));
			goto err_after_open;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) != 0)
		goto err_after_open;
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		log_error(STORE_COMPONENT, "rename failed path=%s err=%s", path, strerror(errno));
		goto err_after_open;
	}
	free(tmp);
	return fsync_dir_of(path);

err_after_open:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
err:
	free(tmp);
	return rv;
}

int store__file_read(const char *path, void *buf, size_t cap, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? MR_ENOTFOUND : MR_EIO;
	size_t len = 0;
	int rv = 0;
	for (;;) {
		uint8_t extra;
		ssize_t n =
		    len < cap ? read(fd, (uint8_t *)buf + len, cap - len) : read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rv = MR_EIO;
			break;
		}
		if (n == 0)
			break;
		if (len >= cap) {
			rv = MR_ETOOBIG;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (rv == 0)
		*len_r = len;
	return rv;
}

int store__key_create(struct store *st, const char *dbname, uint8_t *dbkey)
{
	uint8_t wrapped[STORE_WRAPPED_LEN];
	randombytes_buf(dbkey, STORE_KEYBYTES);
	store__key_wrap(st->mkey, dbname, dbkey, wrapped);
	char *path = store__db_path(st, dbname, ".key");
	int rv = store__file_write_atomic(path, wrapped, sizeof wrapped);
	free(path);
	if (rv != 0)
		sodium_memzero(dbkey, STORE_KEYBYTES);
	return rv;
}

int store__key_load(struct store *st, const char *dbname, uint8_t *dbkey)
{
	uint8_t wrapped[STORE_WRAPPED_LEN];
	size_t len = 0;
	char *path = store__db_path(st, dbname, ".key");
	int rv = store__file_read(path, wrapped, sizeof wrapped, &len);
	if (rv == MR_ETOOBIG)
		rv = MR_ECORRUPT;
	if (rv == 0)
		rv = store__key_unwrap(st->mkey, dbname, wrapped, len, dbkey);
	if (rv != 0 && rv != MR_ENOTFOUND)
		log_error(STORE_COMPONENT, "key file unusable db=%s err=%s", dbname,
		          mr_strerror(rv));
	free(path);
	return rv;
}
