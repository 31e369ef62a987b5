/* ctl_out.c - how mailraftctl shows a response: human output (a message line, "key: value"
 * lines, or an aligned table with an upper-case header) or one JSON object per invocation
 * ({"ok":..., "message", "password", "fields":{}, "rows":[{column: cell}], "error",
 * "exit"}), and the mapping of CtlCode to sysexits(3) exit statuses. Errors go to stderr in
 * human mode and into the JSON object (on stdout) with --json. */
#include "ctl.h"
#include "node/admin/admin_wire.h"
#include <ctype.h>
#include <string.h>

int ctl_exit_code(int code)
{
	switch (code) {
	case MR__CTL_CODE__CTL_OK:
		return CTL_EX_OK;
	case MR__CTL_CODE__CTL_EINVAL:
	case MR__CTL_CODE__CTL_EBUSY:
		return CTL_EX_DATAERR;
	case MR__CTL_CODE__CTL_ENOTFOUND:
		return CTL_EX_NOUSER;
	case MR__CTL_CODE__CTL_EEXIST:
		return CTL_EX_CANTCREAT;
	case MR__CTL_CODE__CTL_EPERM:
		return CTL_EX_NOPERM;
	case MR__CTL_CODE__CTL_EUNAVAIL:
		return CTL_EX_UNAVAILABLE;
	case MR__CTL_CODE__CTL_EVERSION:
		return CTL_EX_PROTOCOL;
	default:
		return CTL_EX_SOFTWARE;
	}
}

static void json_kv(struct buf *b, bool *first, const char *key, const char *val)
{
	if (!*first)
		buf_puts(b, ",");
	*first = false;
	ctl_json_str(b, key);
	buf_puts(b, ":");
	ctl_json_str(b, val);
}

static void print_json(const struct ctl_call *call, const Mr__CtlResponse *r, int status, FILE *out)
{
	struct buf b;
	buf_init(&b, 0);
	bool first = true;
	buf_printf(&b, "{\"ok\":%s", r->code == MR__CTL_CODE__CTL_OK ? "true" : "false");
	first = false;
	if (r->code != MR__CTL_CODE__CTL_OK) {
		json_kv(&b, &first, "error", r->error ? r->error : admin_code_str(r->code));
		json_kv(&b, &first, "code", admin_code_str(r->code));
		buf_printf(&b, ",\"exit\":%d", status);
	}
	if (r->message)
		json_kv(&b, &first, "message", r->message);
	if (r->code == MR__CTL_CODE__CTL_OK && call && call->generated)
		json_kv(&b, &first, "password", call->password);
	if (r->n_fields) {
		buf_puts(&b, ",\"fields\":{");
		bool f1 = true;
		for (size_t i = 0; i < r->n_fields; i++)
			json_kv(&b, &f1, r->fields[i]->key, r->fields[i]->value);
		buf_puts(&b, "}");
	}
	if (r->n_columns) {
		buf_puts(&b, ",\"rows\":[");
		for (size_t i = 0; i < r->n_rows; i++) {
			buf_puts(&b, i ? ",{" : "{");
			bool f1 = true;
			for (size_t j = 0; j < r->n_columns && j < r->rows[i]->n_cells; j++)
				json_kv(&b, &f1, r->columns[j], r->rows[i]->cells[j]);
			buf_puts(&b, "}");
		}
		buf_puts(&b, "]");
	}
	buf_puts(&b, "}\n");
	fwrite(b.p, 1, b.len, out);
	buf_free(&b);
}

static void print_table(const Mr__CtlResponse *r, FILE *out)
{
	size_t nc = r->n_columns, w[16] = {0};
	if (nc > MR_ARRAY_LEN(w))
		nc = MR_ARRAY_LEN(w);
	for (size_t j = 0; j < nc; j++)
		w[j] = strlen(r->columns[j]);
	for (size_t i = 0; i < r->n_rows; i++)
		for (size_t j = 0; j < nc && j < r->rows[i]->n_cells; j++)
			if (strlen(r->rows[i]->cells[j]) > w[j])
				w[j] = strlen(r->rows[i]->cells[j]);
	for (size_t j = 0; j < nc; j++) {
		for (const char *p = r->columns[j]; *p; p++)
			fputc(toupper((unsigned char)*p), out);
		if (j + 1 < nc)
			fprintf(out, "%*s", (int)(w[j] - strlen(r->columns[j]) + 2), "");
	}
	fputc('\n', out);
	for (size_t i = 0; i < r->n_rows; i++) {
		for (size_t j = 0; j < nc && j < r->rows[i]->n_cells; j++)
			if (j + 1 < nc)
				fprintf(out, "%-*s  ", (int)w[j], r->rows[i]->cells[j]);
			else
				fputs(r->rows[i]->cells[j], out);
		fputc('\n', out);
	}
}

int ctl_print(const struct ctl_opts *o, const struct ctl_call *call, const Mr__CtlResponse *r,
              FILE *out, FILE *errf)
{
	int status = ctl_exit_code(r->code);
	if (o->json) {
		print_json(call, r, status, out);
		return status;
	}
	if (r->code != MR__CTL_CODE__CTL_OK) {
		fprintf(errf, "mailraftctl: %s\n", r->error ? r->error : admin_code_str(r->code));
		return status;
	}
	if (r->message)
		fprintf(out, "%s\n", r->message);
	if (call && call->generated)
		fprintf(out, "password: %s\n", call->password);
	size_t kw = 0;
	for (size_t i = 0; i < r->n_fields; i++)
		if (strlen(r->fields[i]->key) > kw)
			kw = strlen(r->fields[i]->key);
	for (size_t i = 0; i < r->n_fields; i++) {
		const char *k = r->fields[i]->key;
		fprintf(out, "%s:%*s %s\n", k, (int)(kw - strlen(k)), "", r->fields[i]->value);
	}
	if (r->n_columns)
		print_table(r, out);
	return status;
}

int ctl_print_error(const struct ctl_opts *o, int status, const char *msg, FILE *out, FILE *errf)
{
	if (o && o->json) {
		struct buf b;
		buf_init(&b, 0);
		buf_puts(&b, "{\"ok\":false,\"error\":");
		ctl_json_str(&b, msg);
		buf_printf(&b, ",\"exit\":%d}\n", status);
		fwrite(b.p, 1, b.len, out);
		buf_free(&b);
	} else {
		fprintf(errf, "mailraftctl: %s\n", msg);
	}
	return status;
}
