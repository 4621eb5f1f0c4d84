// SPDX-License-Identifier: GPL-2.0
/*
 * tls.h for the static kmigrate of `make bench-realkvm` (mk/bench.mk): GnuTLS
 * has no static build on Debian (p11-kit, libunistring), so that binary has
 * no TLS.  It says so and refuses; --insecure (KMIGRATE_INSECURE=1) runs
 * plaintext WITHOUT the authentication the packaged build does (so it talks
 * only to itself; the result's tls_peer says so).  The packaged kmigrate is always built with tls.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "tls.h"

#define NOTLS "this kmigrate is a static build without TLS: use --insecure"

const char *km_tls_dir(const char *dir)
{
	const char *e = getenv("KMIGRATE_TLS_DIR");

	if (dir && *dir)
		return dir;
	return e && *e ? e : KM_TLS_DEFAULT_DIR;
}

/* No credentials to load: a placeholder that km_tls_handshake() takes for
 * --insecure only (plaintext, and here NOT authenticated: this bench-only
 * build says so in the result's tls_peer). */
static char tls_none_creds;

int km_tls_load(const char *dir, struct km_tls **out, char *err, size_t errlen)
{
	(void)dir; (void)err; (void)errlen;
	*out = (struct km_tls *)&tls_none_creds;
	return 0;
}

void km_tls_free(struct km_tls *t)
{
	(void)t;
}

int km_tls_open(struct km_tls *t, int fd, bool server, bool plaintext, unsigned int flags,
		const char *name, int timeout_ms, struct km_chan *ch, char *peer_subject,
		size_t slen, char *err, size_t errlen)
{
	(void)t; (void)fd; (void)server; (void)timeout_ms; (void)name; (void)flags;
	if (plaintext) {
		snprintf(peer_subject, slen, "not authenticated: static build without TLS");
		if (ch)
			ch->desc = KM_TLS_DESC_PLAIN;
		return 0;
	}
	*peer_subject = '\0';
	snprintf(err, errlen, NOTLS);
	return -1;
}

int km_tls_handshake(struct km_tls *t, int fd, bool server, bool plaintext, const char *name,
		     int timeout_ms, char *peer_subject, size_t slen, char *err, size_t errlen)
{
	return km_tls_open(t, fd, server, plaintext, 0, name, timeout_ms, NULL, peer_subject,
			   slen, err, errlen);
}

bool km_tls_ktls_here(void)
{
	return false;
}

/* never a session here: km_chan_* use the socket itself */
ssize_t km_chan_tls_writev(struct km_chan *c, const struct iovec *iov, int cnt)
{
	(void)c; (void)iov; (void)cnt;
	errno = EPROTO;
	return -1;
}

ssize_t km_chan_tls_recv(struct km_chan *c, void *buf, size_t len)
{
	(void)c; (void)buf; (void)len;
	errno = EPROTO;
	return -1;
}

size_t km_chan_tls_pending(struct km_chan *c)
{
	(void)c;
	return 0;
}

void km_chan_free(struct km_chan *c)
{
	c->gs = NULL;
}

int km_tls_req_parse(struct json_object *req, bool *insecure, char *dir, size_t dlen,
		     char *name, size_t nlen, char *err, size_t errlen)
{
	struct json_object *j;

	(void)nlen;
	*name = '\0';

	*insecure = json_object_object_get_ex(req, "insecure", &j) &&
		    json_object_is_type(j, json_type_boolean) && json_object_get_boolean(j);
	*dir = '\0';
	(void)dlen;
	if (!*insecure) {
		snprintf(err, errlen, NOTLS);
		return -1;
	}
	return 0;
}

void km_tls_cli_opt(struct km_tls_cli *c, int opt, const char *arg)
{
	if (opt == KM_TLS_OPT_INSECURE)
		c->insecure = true;
	else if (opt == KM_TLS_OPT_DIR)
		snprintf(c->dir, sizeof(c->dir), "%s", arg);
}

int km_tls_cli_check(struct km_tls_cli *c, const char *cmd)
{
	const char *e = getenv("KMIGRATE_INSECURE");

	if (e && *e && strcmp(e, "0"))
		c->insecure = true;
	if (c->insecure && !*c->dir)
		return 0;
	fprintf(stderr, "kmigrate: %s: %s\n", cmd, NOTLS);
	return -1;
}

void km_tls_cli_req(const struct km_tls_cli *c, struct json_object *req)
{
	json_object_object_add(req, "insecure", json_object_new_boolean(c->insecure));
}

int km_tls_cli_accept(struct km_tls_cli *c, int fd, const char *peer, struct km_chan *ch)
{
	(void)fd;
	if (c->insecure) {
		ch->desc = KM_TLS_DESC_PLAIN;
		return 0;
	}
	fprintf(stderr, "kmigrate listen: refused %s: %s\n", peer, NOTLS);
	return -1;
}
