/* test_keys.c - the key hierarchy primitives: wrapping a database key under the master key
 * (round trip, tamper detection on every byte, AD = database name), atomic 0600 key files, and
 * database-name validation. */
#include "unit.h"
#include "storage/store_int.h"
#include "common/err.h"
#include <sys/stat.h>
#include <unistd.h>

static void setup(uint8_t *mkey, uint8_t *dbkey)
{
	ASSERT(sodium_init() >= 0);
	randombytes_buf(mkey, STORE_KEYBYTES);
	randombytes_buf(dbkey, STORE_KEYBYTES);
}

static void test_wrap_roundtrip(void)
{
	uint8_t mkey[STORE_KEYBYTES], dbkey[STORE_KEYBYTES], out[STORE_KEYBYTES];
	uint8_t w1[STORE_WRAPPED_LEN], w2[STORE_WRAPPED_LEN];
	setup(mkey, dbkey);
	store__key_wrap(mkey, "directory", dbkey, w1);
	store__key_wrap(mkey, "directory", dbkey, w2);
	/* fresh nonce each time */
	ASSERT(memcmp(w1, w2, STORE_NONCEBYTES) != 0);
	/* the key bytes never appear in the wrapped form */
	ASSERT(memcmp(w1 + STORE_NONCEBYTES, dbkey, STORE_KEYBYTES) != 0);
	ASSERT_OK(store__key_unwrap(mkey, "directory", w1, sizeof w1, out));
	ASSERT_EQ_MEM(out, sizeof out, dbkey, sizeof dbkey);
	memset(out, 0, sizeof out);
	ASSERT_OK(store__key_unwrap(mkey, "directory", w2, sizeof w2, out));
	ASSERT_EQ_MEM(out, sizeof out, dbkey, sizeof dbkey);
}

static void test_wrap_tamper(void)
{
	uint8_t mkey[STORE_KEYBYTES], dbkey[STORE_KEYBYTES], out[STORE_KEYBYTES];
	uint8_t w[STORE_WRAPPED_LEN];
	setup(mkey, dbkey);
	store__key_wrap(mkey, "a0123456789abcdef", dbkey, w);
	for (size_t i = 0; i < sizeof w; i++) {
		w[i] ^= 0x01;
		ASSERT_ERR(store__key_unwrap(mkey, "a0123456789abcdef", w, sizeof w, out), MR_EKEY);
		w[i] ^= 0x01;
	}
	ASSERT_OK(store__key_unwrap(mkey, "a0123456789abcdef", w, sizeof w, out));
	/* AD binds the name: a key file renamed to another database does not unwrap */
	ASSERT_ERR(store__key_unwrap(mkey, "a0123456789abcdee", w, sizeof w, out), MR_EKEY);
	ASSERT_ERR(store__key_unwrap(mkey, "directory", w, sizeof w, out), MR_EKEY);
	/* wrong master key */
	uint8_t other[STORE_KEYBYTES];
	memcpy(other, mkey, sizeof other);
	other[31] ^= 0x80;
	ASSERT_ERR(store__key_unwrap(other, "a0123456789abcdef", w, sizeof w, out), MR_EKEY);
	/* truncated / extended */
	ASSERT_ERR(store__key_unwrap(mkey, "a0123456789abcdef", w, sizeof w - 1, out), MR_ECORRUPT);
	ASSERT_ERR(store__key_unwrap(mkey, "a0123456789abcdef", w, 0, out), MR_ECORRUPT);
}

static void test_atomic_file(void)
{
	char path[512], tmp[520];
	snprintf(path, sizeof path, "%s/k.key", unit_tmpdir());
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	uint8_t data[STORE_WRAPPED_LEN], back[STORE_WRAPPED_LEN + 8];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)i;
	ASSERT_OK(store__file_write_atomic(path, data, sizeof data));
	struct stat sb;
	ASSERT_OK(stat(path, &sb));
	ASSERT_EQ_INT(sb.st_mode & 0777, 0600);
	ASSERT(access(tmp, F_OK) != 0);
	size_t len = 0;
	ASSERT_OK(store__file_read(path, back, sizeof back, &len));
	ASSERT_EQ_MEM(back, len, data, sizeof data);
	/* overwrite replaces the content whole */
	ASSERT_OK(store__file_write_atomic(path, "xy", 2));
	ASSERT_OK(store__file_read(path, back, sizeof back, &len));
	ASSERT_EQ_MEM(back, len, "xy", 2);
	/* a file bigger than the cap is refused, a missing one is reported */
	ASSERT_OK(store__file_write_atomic(path, data, sizeof data));
	ASSERT_ERR(store__file_read(path, back, 10, &len), MR_ETOOBIG);
	snprintf(path, sizeof path, "%s/missing", unit_tmpdir());
	ASSERT_ERR(store__file_read(path, back, sizeof back, &len), MR_ENOTFOUND);
	/* unwritable directory */
	ASSERT(store__file_write_atomic("/nonexistent-dir/x.key", "a", 1) < 0);
}

static void test_name_valid(void)
{
	ASSERT(store__name_valid("directory"));
	ASSERT(store__name_valid("a0123456789abcdef"));
	ASSERT(store__name_valid("queue_out"));
	ASSERT(!store__name_valid(""));
	ASSERT(!store__name_valid("../etc"));
	ASSERT(!store__name_valid("a/b"));
	ASSERT(!store__name_valid("a.db"));
	ASSERT(!store__name_valid("Directory"));
	ASSERT(!store__name_valid("1abc"));
	char longname[STORE_DBNAME_MAX + 1];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	ASSERT(!store__name_valid(longname));
	longname[STORE_DBNAME_MAX - 1] = 0;
	ASSERT(store__name_valid(longname));
}

static const struct unit_test tests[] = {
    {"wrap roundtrip", test_wrap_roundtrip},
    {"wrap tamper", test_wrap_tamper},
    {"atomic file", test_atomic_file},
    {"name valid", test_name_valid},
    {0},
};
UNIT_MAIN(tests)
