// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 with GnuTLS for the handshake and mutual authentication, kernel
 * TLS for the records (tls.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/tls.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <json.h>

#include "tls.h"

#ifndef SOL_TLS
#define SOL_TLS		282
#endif
#ifndef TCP_ULP
#define TCP_ULP		31
#endif

/* TLS 1.3 only, AES-128-GCM only: the cipher kTLS takes as
 * tls12_crypto_info_aes_gcm_128 */
#define KM_TLS_PRIORITY	"NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM"

struct km_tls {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
};

const char *km_tls_dir(const char *dir)
{
	const char *e = getenv("KMIGRATE_TLS_DIR");

	if (dir && *dir)
		return dir;
	return e && *e ? e : KM_TLS_DEFAULT_DIR;
}

void km_tls_free(struct km_tls *t)
{
	if (!t)
		return;
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}

int km_tls_load(const char *dir, struct km_tls **out, char *err, size_t errlen)
{
	static const char *const files[] = { "ca.pem", "cert.pem", "key.pem" };
	char path[3][4096];
	const char *epos = NULL;
	struct km_tls *t;
	unsigned int i;
	int r;

	*out = NULL;
	dir = km_tls_dir(dir);
	for (i = 0; i < 3; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%s", dir, files[i]);
		if (access(path[i], R_OK)) {
			r = -errno;
			snprintf(err, errlen, "TLS credentials: %s: %s (give --tls-dir DIR with "
				 "ca.pem, cert.pem and key.pem: the cluster CA, this host's "
				 "certificate and key; --insecure needs them too)",
				 path[i], strerror(errno));
			return r;
		}
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = gnutls_certificate_allocate_credentials(&t->cred);
	if (r < 0) {
		snprintf(err, errlen, "TLS credentials: %s", gnutls_strerror(r));
		goto fail;
	}
	r = gnutls_certificate_set_x509_trust_file(t->cred, path[0], GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		snprintf(err, errlen, "TLS credentials: %s: %s", path[0],
			 r < 0 ? gnutls_strerror(r) : "no CA certificate in it");
		goto fail;
	}
	r = gnutls_certificate_set_x509_key_file(t->cred, path[1], path[2], GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		snprintf(err, errlen, "TLS credentials: %s, %s: %s", path[1], path[2],
			 gnutls_strerror(r));
		goto fail;
	}
	r = gnutls_priority_init(&t->prio, KM_TLS_PRIORITY, &epos);
	if (r < 0) {
		snprintf(err, errlen, "TLS priority '%s' at '%s': %s", KM_TLS_PRIORITY,
			 epos ? epos : "?", gnutls_strerror(r));
		t->prio = NULL;
		goto fail;
	}
	*out = t;
	return 0;
fail:
	km_tls_free(t);
	return -EINVAL;
}

int km_tls_mode_answer(bool plaintext, unsigned char ask, unsigned char *answer, char *why,
		       size_t wlen)
{
	*answer = KM_TLS_NAK_MODE;
	if (ask == KM_TLS_MODE_KTLS && !plaintext) {
		*answer = KM_TLS_ACK_KTLS;
		return 0;
	}
	if (ask == KM_TLS_MODE_PLAIN && plaintext) {
		*answer = KM_TLS_ACK_PLAIN;
		return 0;
	}
	if (ask == KM_TLS_MODE_KTLS)
		snprintf(why, wlen, "the source asks for an encrypted channel; this listener "
			 "runs --insecure (authenticated plaintext)");
	else if (ask == KM_TLS_MODE_PLAIN)
		snprintf(why, wlen, "the source asks for plaintext (--insecure); this listener "
			 "requires encryption");
	else
		snprintf(why, wlen, "the source sent 0x%02x, not a mode request", ask);
	return -1;
}

int km_tls_mode_check(bool plaintext, unsigned char answer, char *why, size_t wlen)
{
	if (answer == (plaintext ? KM_TLS_ACK_PLAIN : KM_TLS_ACK_KTLS))
		return 0;
	if (answer == KM_TLS_NAK_MODE)
		snprintf(why, wlen, plaintext ?
			 "the destination refused plaintext: it requires encryption (its "
			 "listener runs without --insecure)" :
			 "the destination refused encryption: its listener runs --insecure "
			 "(authenticated plaintext; give --insecure to both, or neither)");
	else if (answer == (plaintext ? KM_TLS_ACK_KTLS : KM_TLS_ACK_PLAIN))
		snprintf(why, wlen, "the destination answered %s to a request for %s",
			 plaintext ? "kTLS" : "plaintext", plaintext ? "plaintext" : "kTLS");
	else
		snprintf(why, wlen, "the destination answered 0x%02x, not a mode", answer);
	return -1;
}

bool km_tls_cert_names(const void *der, size_t len, const char *name, char *why, size_t wlen)
{
	gnutls_datum_t d = { (unsigned char *)der, (unsigned int)len };
	gnutls_datum_t dn = { NULL, 0 };
	char host[256], names[512] = "", subj[256] = "?", *pct;
	gnutls_x509_crt_t crt;
	bool ok = false;
	unsigned int i;
	size_t n;

	snprintf(host, sizeof(host), "%s", name ? name : "");
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {	/* [v6] */
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	pct = strchr(host, '%');
	if (pct && strchr(host, ':'))	/* fe80::1%mig0 */
		*pct = '\0';
	if (!*host) {
		snprintf(why, wlen, "no name to check the destination's certificate against");
		return false;
	}
	if (gnutls_x509_crt_init(&crt) < 0) {
		snprintf(why, wlen, "out of memory");
		return false;
	}
	if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0) {
		snprintf(why, wlen, "the destination's certificate cannot be read");
		goto out;
	}
	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
		snprintf(subj, sizeof(subj), "%.*s", (int)dn.size, (const char *)dn.data);
		gnutls_free(dn.data);
	}
	ok = gnutls_x509_crt_check_hostname2(crt, host, 0) != 0;
	if (ok)
		goto out;
	for (i = 0; i < 64; i++) {
		unsigned char buf[256];
		char one[300], ip[INET6_ADDRSTRLEN];
		size_t sz = sizeof(buf) - 1;
		unsigned int crit = 0;
		int t = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &sz, &crit);

		if (t == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (t == GNUTLS_SAN_DNSNAME)
			snprintf(one, sizeof(one), "DNS:%.*s", (int)sz, (const char *)buf);
		else if (t == GNUTLS_SAN_IPADDRESS && (sz == 4 || sz == 16) &&
			 inet_ntop(sz == 4 ? AF_INET : AF_INET6, buf, ip, sizeof(ip)))
			snprintf(one, sizeof(one), "IP:%s", ip);
		else
			continue;
		if (strlen(names) + strlen(one) + 3 < sizeof(names))
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 *names ? ", " : "", one);
	}
	snprintf(why, wlen, "the destination's certificate (%s) does not name %s: its names "
		 "are %s (--tls-name NAME sets the name expected)", subj, host,
		 *names ? names : "none (no subjectAltName)");
out:
	gnutls_x509_crt_deinit(crt);
	return ok;
}

/* The peer's certificate: verified against the CA, its subject in @subj;
 * a destination's also against @name (NULL: none, the destination's side).
 * Returns 0, or -1 with @err set and a fatal alert sent. */
static int tls_verify_peer(gnutls_session_t s, const char *who, const char *name, char *subj,
			   size_t slen, char *err, size_t errlen)
{
	const gnutls_datum_t *certs;
	unsigned int n = 0, status = 0;
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = { NULL, 0 };
	int r;

	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || !n) {
		snprintf(err, errlen, "%s presented no certificate", who);
		gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_CERTIFICATE_REQUIRED);
		return -1;
	}
	if (gnutls_x509_crt_init(&crt) == 0) {
		if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
		    gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
			snprintf(subj, slen, "%.*s", (int)dn.size, (const char *)dn.data);
			gnutls_free(dn.data);
		}
		gnutls_x509_crt_deinit(crt);
	}
	r = gnutls_certificate_verify_peers3(s, NULL, &status);
	if (r < 0) {
		snprintf(err, errlen, "%s's certificate (%s): %s", who, subj, gnutls_strerror(r));
		gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
		return -1;
	}
	if (status) {
		gnutls_datum_t out = { NULL, 0 };

		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0))
			out.data = NULL;
		while (out.data && out.size && (out.data[out.size - 1] == ' ' || !out.data[out.size - 1]))
			out.data[--out.size] = '\0';
		snprintf(err, errlen, "%s's certificate (%s) is not trusted: %s", who, subj,
			 out.data ? (const char *)out.data : "verification failed");
		gnutls_free(out.data);
		gnutls_alert_send(s, GNUTLS_AL_FATAL, status & GNUTLS_CERT_SIGNER_NOT_FOUND ?
				  GNUTLS_A_UNKNOWN_CA : GNUTLS_A_BAD_CERTIFICATE);
		return -1;
	}
	if (name && !km_tls_cert_names(certs[0].data, certs[0].size, name, err, errlen)) {
		gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
		return -1;
	}
	return 0;
}

/* One direction's keys from GnuTLS into the kernel (@read: TLS_RX). */
static int tls_ktls_dir(gnutls_session_t s, int fd, bool read, char *err, size_t errlen)
{
	struct tls12_crypto_info_aes_gcm_128 ci;
	gnutls_datum_t iv = { NULL, 0 }, key = { NULL, 0 };
	unsigned char seq[8];
	int r;

	r = gnutls_record_get_state(s, read ? 1 : 0, NULL, &iv, &key, seq);
	if (r < 0) {
		snprintf(err, errlen, "TLS: the %s keys: %s", read ? "receive" : "send",
			 gnutls_strerror(r));
		return -1;
	}
	if (iv.size != TLS_CIPHER_AES_GCM_128_SALT_SIZE + TLS_CIPHER_AES_GCM_128_IV_SIZE ||
	    key.size != TLS_CIPHER_AES_GCM_128_KEY_SIZE) {
		snprintf(err, errlen, "TLS: unexpected key sizes (iv %u, key %u)", iv.size, key.size);
		return -1;
	}
	memset(&ci, 0, sizeof(ci));
	ci.info.version = TLS_1_3_VERSION;
	ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
	/* TLS 1.3 nonce = salt (first 4 bytes of the IV) | iv (the last 8),
	 * XORed with the record sequence number by the kernel */
	memcpy(ci.salt, iv.data, TLS_CIPHER_AES_GCM_128_SALT_SIZE);
	memcpy(ci.iv, iv.data + TLS_CIPHER_AES_GCM_128_SALT_SIZE, TLS_CIPHER_AES_GCM_128_IV_SIZE);
	memcpy(ci.key, key.data, TLS_CIPHER_AES_GCM_128_KEY_SIZE);
	memcpy(ci.rec_seq, seq, TLS_CIPHER_AES_GCM_128_REC_SEQ_SIZE);
	r = setsockopt(fd, SOL_TLS, read ? TLS_RX : TLS_TX, &ci, sizeof(ci));
	memset(&ci, 0, sizeof(ci));
	if (r < 0) {
		snprintf(err, errlen, "kernel TLS: setsockopt(%s): %s%s", read ? "TLS_RX" : "TLS_TX",
			 strerror(errno), errno == ENOENT ?
			 " (no gcm(aes) in the kernel's crypto API: modprobe gcm)" : "");
		return -1;
	}
	return 0;
}

static int tls_fail_handshake(gnutls_session_t s, int r, const char *who, char *err,
			      size_t errlen)
{
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED || r == GNUTLS_E_WARNING_ALERT_RECEIVED)
		snprintf(err, errlen, "TLS handshake: %s sent alert '%s'", who,
			 gnutls_alert_get_name(gnutls_alert_get(s)));
	else if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PULL_ERROR ||
		 r == GNUTLS_E_PUSH_ERROR)
		snprintf(err, errlen, "TLS handshake: %s closed the connection (%s)", who,
			 gnutls_strerror(r));
	else {
		snprintf(err, errlen, "TLS handshake: %s", gnutls_strerror(r));
		gnutls_alert_send_appropriate(s, r);
	}
	return -1;
}

bool km_tls_ktls_here(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r, e;

	if (fd < 0)
		return false;
	/* ENOENT: no such ULP (no tls module); with one, an unconnected
	 * socket gets ENOTCONN (or, on old kernels, the ULP itself) */
	r = setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls"));
	e = errno;
	close(fd);
	return r == 0 || e != ENOENT;
}

/* a record's plaintext at most (TLS 1.3: 2^14) */
#define KM_CHAN_REC	16384u

int km_tls_handshake(struct km_tls *t, int fd, bool server, bool plaintext, const char *name,
		     int timeout_ms, char *peer_subject, size_t slen, char *err, size_t errlen)
{
	return km_tls_open(t, fd, server, plaintext, 0, name, timeout_ms, NULL, peer_subject,
			   slen, err, errlen);
}

int km_tls_open(struct km_tls *t, int fd, bool server, bool plaintext, unsigned int flags,
		const char *name, int timeout_ms, struct km_chan *ch, char *peer_subject,
		size_t slen, char *err, size_t errlen)
{
	const char *who = server ? "the source" : "the destination";
	gnutls_session_t s = NULL;
	int fl = fcntl(fd, F_GETFL), r, ret = -1;
	unsigned char b = 0, ans = 0;
	char why[300];

	*peer_subject = '\0';
	if (!server && (!name || !*name)) {
		snprintf(err, errlen, "TLS: no name to check the destination's certificate against");
		return -1;
	}
	if (fl < 0 || (fl & O_NONBLOCK && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
		snprintf(err, errlen, "TLS: fcntl: %s", strerror(errno));
		return -1;
	}
	/* GNUTLS_NO_SIGNAL: its sends take MSG_NOSIGNAL (records kept in @ch) */
	r = gnutls_init(&s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_TICKETS |
			GNUTLS_NO_SIGNAL);
	if (r < 0) {
		snprintf(err, errlen, "TLS: %s", gnutls_strerror(r));
		s = NULL;
		goto out;
	}
	r = gnutls_priority_set(s, t->prio);
	if (!r)
		r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, t->cred);
	if (r < 0) {
		snprintf(err, errlen, "TLS: %s", gnutls_strerror(r));
		goto out;
	}
	if (server) {
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		/* no CA names in the request: a source sends its certificate
		 * whatever its issuer, and the log names whom we refused */
		gnutls_certificate_send_x509_rdn_sequence(s, 1);
	}
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, (unsigned int)timeout_ms);
	do {
		r = gnutls_handshake(s);
	} while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		tls_fail_handshake(s, r, who, err, errlen);
		goto out;
	}
	if (gnutls_protocol_get_version(s) != GNUTLS_TLS1_3 ||
	    gnutls_cipher_get(s) != GNUTLS_CIPHER_AES_128_GCM) {
		snprintf(err, errlen, "TLS: negotiated %s %s, not TLS1.3 AES-128-GCM",
			 gnutls_protocol_get_name(gnutls_protocol_get_version(s)),
			 gnutls_cipher_get_name(gnutls_cipher_get(s)));
		gnutls_alert_send(s, GNUTLS_AL_FATAL, GNUTLS_A_PROTOCOL_VERSION);
		goto out;
	}
	if (tls_verify_peer(s, who, server ? NULL : name, peer_subject, slen, err, errlen))
		goto out;
	/* the mode exchange (tls.h): the source asks, the destination answers */
	gnutls_record_set_timeout(s, (unsigned int)timeout_ms);
	if (server) {
		do {
			r = (int)gnutls_record_recv(s, &b, 1);
		} while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
		if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
			snprintf(err, errlen, "the source refused this destination: TLS alert '%s'",
				 gnutls_alert_get_name(gnutls_alert_get(s)));
			goto out;
		}
		if (r != 1) {
			snprintf(err, errlen, "TLS: no mode request from the source: %s",
				 r < 0 ? gnutls_strerror(r) : "connection closed");
			goto out;
		}
		if (gnutls_record_check_pending(s)) {
			snprintf(err, errlen, "TLS: unexpected data after the mode request");
			goto out;
		}
		if (km_tls_mode_answer(plaintext, b, &ans, why, sizeof(why)))
			snprintf(err, errlen, "%s", why);
		do {
			r = (int)gnutls_record_send(s, &ans, 1);
		} while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
		if (ans == KM_TLS_NAK_MODE)
			goto out;
		if (r != 1) {
			snprintf(err, errlen, "TLS: sending the answer: %s",
				 r < 0 ? gnutls_strerror(r) : "short write");
			goto out;
		}
	} else {
		b = plaintext ? KM_TLS_MODE_PLAIN : KM_TLS_MODE_KTLS;
		do {
			r = (int)gnutls_record_send(s, &b, 1);
		} while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
		if (r != 1) {
			snprintf(err, errlen, "TLS: sending the mode request: %s",
				 r < 0 ? gnutls_strerror(r) : "short write");
			goto out;
		}
		do {
			r = (int)gnutls_record_recv(s, &ans, 1);
		} while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
		if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
			snprintf(err, errlen, "the destination refused this host: TLS alert '%s'",
				 gnutls_alert_get_name(gnutls_alert_get(s)));
			goto out;
		}
		if (r != 1) {
			snprintf(err, errlen, "TLS: no answer from the destination: %s",
				 r < 0 ? gnutls_strerror(r) : "connection closed");
			goto out;
		}
		if (km_tls_mode_check(plaintext, ans, why, sizeof(why))) {
			snprintf(err, errlen, "%s", why);
			goto out;
		}
		if (gnutls_record_check_pending(s)) {
			snprintf(err, errlen, "TLS: unexpected data after the answer");
			goto out;
		}
	}
	if (plaintext) {	/* agreed: authenticated, the rest in the clear */
		if (ch)
			ch->desc = KM_TLS_DESC_PLAIN;
		ret = 0;
		goto out;
	}
	/* the record layer to the kernel; `modprobe tls` if the ULP is missing
	 * (the kernel loads it itself for CAP_NET_ADMIN) */
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		int e = errno;

		if (ch && (flags & KM_TLS_F_RECORDS)) {
			/* no kTLS here: GnuTLS keeps the records (the socket is
			 * untouched; the peer cannot tell) */
			ch->buf = malloc(KM_CHAN_REC);
			if (!ch->buf) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			gnutls_record_set_timeout(s, 0);	/* the socket's own mode */
			ch->gs = s;
			ch->desc = KM_TLS_DESC_RECORDS;
			s = NULL;
			ret = 0;
			goto out;
		}
		snprintf(err, errlen, "kernel TLS unavailable: setsockopt(TCP_ULP, \"tls\"): %s "
			 "(is the tls module loaded? modprobe tls)", strerror(e));
		goto out;
	}
	if (tls_ktls_dir(s, fd, false, err, errlen) || tls_ktls_dir(s, fd, true, err, errlen))
		goto out;
	if (ch)
		ch->desc = KM_TLS_DESC;
	ret = 0;
out:
	if (s)
		gnutls_deinit(s);	/* no close_notify: the kernel owns the records */
	if (fl >= 0 && fl & O_NONBLOCK)
		fcntl(fd, F_SETFL, fl);
	return ret;
}

/* GnuTLS's return value @r as errno (after @c->err says why) */
static int chan_errno(struct km_chan *c, ssize_t r)
{
	int e = errno;

	snprintf(c->err, sizeof(c->err), "TLS: %s", gnutls_strerror((int)r));
	if (r == GNUTLS_E_AGAIN)
		return EAGAIN;
	if (r == GNUTLS_E_INTERRUPTED)
		return EINTR;
	if (r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PULL_ERROR)
		return e && e != EAGAIN && e != EINTR ? e : ECONNRESET;
	return EPROTO;	/* a bad record, an alert: the stream is unusable */
}

ssize_t km_chan_tls_writev(struct km_chan *c, const struct iovec *iov, int cnt)
{
	gnutls_session_t s = c->gs;
	size_t done = 0, skip, n, total = 0;
	ssize_t r;
	int i;

	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	while (done < total) {
		if (c->pend) {	/* the record GnuTLS holds: finish it first */
			n = c->pend;
			r = gnutls_record_send(s, NULL, 0);
		} else {	/* the next record's plaintext, gathered */
			n = 0;
			skip = done;
			for (i = 0; i < cnt && n < KM_CHAN_REC; i++) {
				size_t l = iov[i].iov_len, take;

				if (skip >= l) {
					skip -= l;
					continue;
				}
				take = l - skip < KM_CHAN_REC - n ? l - skip : KM_CHAN_REC - n;
				memcpy(c->buf + n, (const unsigned char *)iov[i].iov_base + skip, take);
				n += take;
				skip = 0;
			}
			r = gnutls_record_send(s, c->buf, n);
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			c->pend = n;	/* taken by GnuTLS, not yet by the socket */
			if (done)
				return (ssize_t)done;
			errno = chan_errno(c, r);
			return -1;
		}
		c->pend = 0;
		if (r < 0) {
			errno = chan_errno(c, r);
			return done ? (ssize_t)done : -1;
		}
		done += n;
	}
	return (ssize_t)done;
}

ssize_t km_chan_tls_recv(struct km_chan *c, void *buf, size_t len)
{
	gnutls_session_t s = c->gs;
	size_t got = 0;

	if (!len)
		return 0;
	do {
		ssize_t r = gnutls_record_recv(s, (unsigned char *)buf + got, len - got);

		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (got)
			return (ssize_t)got;	/* the failure again at the next call */
		/* the peer closed: with close_notify (0) or without */
		if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION)
			return 0;
		errno = chan_errno(c, r);
		return -1;
	} while (got < len && gnutls_record_check_pending(s));
	return (ssize_t)got;
}

size_t km_chan_tls_pending(struct km_chan *c)
{
	return gnutls_record_check_pending(c->gs);
}

void km_chan_free(struct km_chan *c)
{
	if (c->gs)
		gnutls_deinit(c->gs);	/* no close_notify: the protocol ended it */
	c->gs = NULL;
	free(c->buf);
	c->buf = NULL;
	c->pend = 0;
}

int km_tls_req_parse(struct json_object *req, bool *insecure, char *dir, size_t dlen,
		     char *name, size_t nlen, char *err, size_t errlen)
{
	struct json_object *j;

	*insecure = false;
	*dir = '\0';
	*name = '\0';
	if (json_object_object_get_ex(req, "tls_name", &j) && !json_object_is_type(j, json_type_null)) {
		if (!json_object_is_type(j, json_type_string) || !*json_object_get_string(j) ||
		    strlen(json_object_get_string(j)) >= nlen) {
			snprintf(err, errlen, "migrate: \"tls_name\": expected a host name or "
				 "address");
			return -1;
		}
		snprintf(name, nlen, "%s", json_object_get_string(j));
	}
	if (json_object_object_get_ex(req, "insecure", &j) && !json_object_is_type(j, json_type_null)) {
		if (!json_object_is_type(j, json_type_boolean)) {
			snprintf(err, errlen, "migrate: \"insecure\": expected true or false");
			return -1;
		}
		*insecure = json_object_get_boolean(j);
	}
	if (json_object_object_get_ex(req, "tls_dir", &j) && !json_object_is_type(j, json_type_null)) {
		if (!json_object_is_type(j, json_type_string) ||
		    strlen(json_object_get_string(j)) >= dlen) {
			snprintf(err, errlen, "migrate: \"tls_dir\": expected a directory");
			return -1;
		}
		snprintf(dir, dlen, "%s", json_object_get_string(j));
	}
	return 0;
}

void km_tls_cli_opt(struct km_tls_cli *c, int opt, const char *arg)
{
	if (opt == KM_TLS_OPT_INSECURE)
		c->insecure = true;
	else if (opt == KM_TLS_OPT_DIR)
		snprintf(c->dir, sizeof(c->dir), "%s", arg);
	else if (opt == KM_TLS_OPT_NAME)
		snprintf(c->name, sizeof(c->name), "%s", arg);
}

int km_tls_cli_check(struct km_tls_cli *c, const char *cmd)
{
	const char *e = getenv("KMIGRATE_INSECURE"), *d = getenv("KMIGRATE_TLS_DIR");
	char err[600], *abs;

	/* --insecure, else KMIGRATE_INSECURE (0: no), else the config's */
	if (!c->insecure)
		c->insecure = e && *e ? strcmp(e, "0") != 0 : c->conf_insecure;
	/* --tls-dir, else $KMIGRATE_TLS_DIR, else the config's tls_dir */
	if (!*c->dir)
		snprintf(c->dir, sizeof(c->dir), "%s", d && *d ? d : *c->conf_dir ? c->conf_dir :
			 KM_TLS_DEFAULT_DIR);
	abs = realpath(c->dir, NULL);
	if (abs) {
		snprintf(c->dir, sizeof(c->dir), "%s", abs);
		free(abs);
	}
	if (km_tls_load(c->dir, &c->creds, err, sizeof(err))) {
		fprintf(stderr, "kmigrate: %s: %s\n", cmd, err);
		return -1;
	}
	return 0;
}

void km_tls_cli_req(const struct km_tls_cli *c, struct json_object *req)
{
	json_object_object_add(req, "insecure", json_object_new_boolean(c->insecure));
	json_object_object_add(req, "tls_dir", json_object_new_string(c->dir));
	if (*c->name)
		json_object_object_add(req, "tls_name", json_object_new_string(c->name));
}

int km_tls_cli_accept(struct km_tls_cli *c, int fd, const char *peer, struct km_chan *ch)
{
	char err[600], subj[256];

	/* the destination never needs kTLS: it reads, the module does not */
	if (km_tls_open(c->creds, fd, true, c->insecure, KM_TLS_F_RECORDS, NULL,
			KM_TLS_HANDSHAKE_MS, ch, subj, sizeof(subj), err, sizeof(err))) {
		fprintf(stderr, "kmigrate listen: refused %s: %s\n", peer, err);
		return -1;
	}
	fprintf(stderr, "kmigrate listen: %s: %s, authenticated as %s\n", peer, ch->desc, subj);
	return 0;
}
