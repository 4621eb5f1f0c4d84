// SPDX-License-Identifier: GPL-2.0
/* The host's kmigrate configuration file (config.h). */
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "rate.h"

void km_conf_defaults(struct km_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->max_outgoing = KM_CONF_DEFAULT_MAX;
	c->max_incoming = KM_CONF_DEFAULT_MAX;
	c->incoming_policy = KM_CONF_REFUSE;
}

static int conf_str(char *dst, size_t len, const char *v, char *why, size_t wlen)
{
	if (strlen(v) >= len) {
		snprintf(why, wlen, "too long (at most %zu characters)", len - 1);
		return -1;
	}
	snprintf(dst, len, "%s", v);
	return 0;
}

/* One "key = value"; returns 0 or -1 with @why. */
static int conf_set(struct km_conf *c, const char *k, const char *v, char *why, size_t wlen)
{
	if (!strcmp(k, "listen_address"))
		return conf_str(c->listen_address, sizeof(c->listen_address), v, why, wlen);
	if (!strcmp(k, "listen_port"))
		return km_parse_u32(v, 1, 65535, &c->listen_port, why, wlen) ? -1 : 0;
	if (!strcmp(k, "via"))
		return conf_str(c->via, sizeof(c->via), v, why, wlen);
	if (!strcmp(k, "source_address"))
		return conf_str(c->source_address, sizeof(c->source_address), v, why, wlen);
	if (!strcmp(k, "bandwidth"))
		return km_rate_parse(v, &c->bandwidth, why, wlen) ? -1 : 0;
	if (!strcmp(k, "max_outgoing"))
		return km_parse_u32(v, 1, KM_CONF_MAX_LIMIT, &c->max_outgoing, why, wlen) ? -1 : 0;
	if (!strcmp(k, "max_incoming"))
		return km_parse_u32(v, 1, KM_CONF_MAX_LIMIT, &c->max_incoming, why, wlen) ? -1 : 0;
	if (!strcmp(k, "downtime_limit"))
		return km_parse_u32(v, 1, 3600000, &c->downtime_limit, why, wlen) ? -1 : 0;
	if (!strcmp(k, "tls_dir")) {
		if (v[0] != '/') {
			snprintf(why, wlen, "expected an absolute directory");
			return -1;
		}
		return conf_str(c->tls_dir, sizeof(c->tls_dir), v, why, wlen);
	}
	if (!strcmp(k, "insecure")) {
		if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
			c->insecure = true;
		else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
			c->insecure = false;
		else {
			snprintf(why, wlen, "expected yes or no");
			return -1;
		}
		return 0;
	}
	if (!strcmp(k, "incoming_policy")) {
		if (!strcmp(v, "refuse"))
			c->incoming_policy = KM_CONF_REFUSE;
		else if (!strcmp(v, "queue"))
			c->incoming_policy = KM_CONF_QUEUE;
		else {
			snprintf(why, wlen, "expected refuse or queue");
			return -1;
		}
		return 0;
	}
	snprintf(why, wlen, "unknown key");
	return -2;
}

static const char *const conf_keys[] = {
	"listen_address", "listen_port", "via", "source_address", "bandwidth",
	"max_outgoing", "max_incoming", "downtime_limit", "incoming_policy", "tls_dir",
	"insecure",
};

static char *conf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int km_conf_parse(struct km_conf *c, const char *path, const char *text, char *err,
		  size_t errlen)
{
	unsigned int seen = 0, line = 0, i;
	const char *p = text;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char buf[1024], why[200], *k, *v, *eq, *hash;

		line++;
		if (n >= sizeof(buf)) {
			snprintf(err, errlen, "%s:%u: line too long", path, line);
			return -EINVAL;
		}
		memcpy(buf, p, n);
		buf[n] = '\0';
		p += n + (nl ? 1 : 0);
		hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		k = conf_trim(buf);
		if (!*k)
			continue;
		eq = strchr(k, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'key = value'", path, line);
			return -EINVAL;
		}
		*eq = '\0';
		k = conf_trim(k);
		v = conf_trim(eq + 1);
		for (i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++)
			if (!strcmp(k, conf_keys[i]))
				break;
		if (i == sizeof(conf_keys) / sizeof(conf_keys[0])) {
			snprintf(err, errlen, "%s:%u: unknown key '%s'", path, line, k);
			return -EINVAL;
		}
		if (seen & (1u << i)) {
			snprintf(err, errlen, "%s:%u: '%s' given twice", path, line, k);
			return -EINVAL;
		}
		seen |= 1u << i;
		if (!*v) {
			snprintf(err, errlen, "%s:%u: '%s' has no value", path, line, k);
			return -EINVAL;
		}
		if (conf_set(c, k, v, why, sizeof(why))) {
			snprintf(err, errlen, "%s:%u: invalid %s '%s': %s", path, line, k, v, why);
			return -EINVAL;
		}
		if (!strcmp(k, "via") && (strchr(v, '/') || strchr(v, ' ') ||
					  strlen(v) >= IF_NAMESIZE)) {
			snprintf(err, errlen, "%s:%u: invalid via '%s': not an interface name",
				 path, line, v);
			return -EINVAL;
		}
	}
	return 0;
}

int km_conf_load(struct km_conf *c, char *err, size_t errlen)
{
	const char *env = getenv("KMIGRATE_CONFIG");
	const char *path = env && *env ? env : KM_CONF_DEFAULT_PATH;
	char *text = NULL;
	size_t cap = 0, len = 0;
	FILE *f;
	int r;

	km_conf_defaults(c);
	f = fopen(path, "re");
	if (!f) {
		r = errno;
		if (r == ENOENT && path == (const char *)KM_CONF_DEFAULT_PATH)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(r));
		return -r;
	}
	for (;;) {
		size_t got;

		if (len + 4096 + 1 > cap) {
			char *t = realloc(text, cap + 8192);

			if (!t) {
				free(text);
				fclose(f);
				snprintf(err, errlen, "%s: out of memory", path);
				return -ENOMEM;
			}
			text = t;
			cap += 8192;
		}
		got = fread(text + len, 1, 4096, f);
		len += got;
		if (got < 4096)
			break;
		if (len > 1 << 20) {
			free(text);
			fclose(f);
			snprintf(err, errlen, "%s: too large", path);
			return -EFBIG;
		}
	}
	r = ferror(f) ? -EIO : 0;
	fclose(f);
	if (r) {
		free(text);
		snprintf(err, errlen, "%s: read error", path);
		return r;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		free(text);
		snprintf(err, errlen, "%s: not a text file (NUL byte)", path);
		return -EINVAL;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	r = km_conf_parse(c, path, text, err, errlen);
	free(text);
	return r;
}
