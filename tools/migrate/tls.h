/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The migration channel's security (docs/PROTOCOL.md, Security): a TLS 1.3
 * handshake with GnuTLS, mutual X.509 authentication against the cluster
 * CA, the destination's name checked by the source, a one-byte mode
 * exchange, then either the record layer handed to kernel TLS (the
 * kernel's `tls` module, TCP_ULP "tls", TLS_TX and TLS_RX) so the rest of
 * the program, and kmigrate.ko's data path, keep using the plain socket
 * (send(), writev(), recv() and the module's in-kernel sends are encrypted
 * by the kernel), or, with --insecure on both ends, plaintext.
 *
 *   source (client)                     destination (server)
 *   ClientHello ...  ---------------->  handshake, client cert REQUIRED
 *   <------- ServerHello ... Finished
 *   verify the server's certificate:    verify the client's certificate
 *   the cluster CA, and that it names   (refused: fatal alert, close)
 *   the --to host (or --tls-name)
 *   (refused: fatal alert, close)
 *   Certificate, CertificateVerify,
 *   Finished ------------------------->
 *   MODE: one application byte  ------> KM_TLS_MODE_KTLS 'E' or
 *                                       KM_TLS_MODE_PLAIN 'P'
 *   <------------ one application byte: KM_TLS_ACK_KTLS 'K' or
 *                 KM_TLS_ACK_PLAIN 'p' (the peer is accepted, this mode),
 *                 or KM_TLS_NAK_MODE '!' then close (the listener runs
 *                 the other mode: both ends log the mismatch)
 *   both: kTLS TX+RX from the current keys and sequence numbers, or with
 *   'p' nothing (plaintext from here), the GnuTLS session dropped without
 *   close_notify; then HELLO ...
 *   An end whose kernel has no kTLS (no `tls` module: TCP_ULP fails) keeps
 *   its GnuTLS session instead and encrypts and decrypts the records in
 *   this process (KM_TLS_DESC_RECORDS, struct km_chan): the bytes on the
 *   wire are the same TLS 1.3 records, so either end may do so without the
 *   other knowing.  The kernel data path needs kTLS (the module writes the
 *   pages itself): `start --datapath kernel` refuses without it, auto takes
 *   the user data path.
 *
 * The request and the answers are five distinct values, so an answer is
 * never taken for a request, an old destination's bare confirmation (0x4b
 * sent unasked) is read by a plaintext source as the wrong mode, and a
 * plaintext source never follows a kTLS destination (or the reverse).
 * Plaintext after the handshake is authenticated, not protected: from then
 * on nothing checks the stream's integrity or hides it (--insecure is for
 * a trusted migration network only).
 *
 * No session tickets (GNUTLS_NO_TICKETS both ends) and no key updates: after
 * the answer no TLS record other than application data flows, which is all
 * kTLS's receive side takes, and neither end sends more until it has read
 * the other's byte, so GnuTLS holds nothing unread when it is dropped.
 * Credentials (also for --insecure): a directory with ca.pem (the cluster
 * CA), cert.pem (this host's certificate signed by the CA, with its
 * migration-network address and/or DNS name in subjectAltName) and key.pem
 * (its key); --tls-dir, else $KMIGRATE_TLS_DIR, else tls_dir in
 * kmigrate.conf, else /etc/kmigrate/tls.
 */
#ifndef KM_TLS_H
#define KM_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <getopt.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#define KM_TLS_DEFAULT_DIR	"/etc/kmigrate/tls"
#define KM_TLS_HANDSHAKE_MS	10000
/* what the result and the logs call the channel */
#define KM_TLS_DESC		"TLS1.3 AES-128-GCM kTLS"
#define KM_TLS_DESC_PLAIN	"TLS1.3 authenticated plaintext"
#define KM_TLS_DESC_RECORDS	"TLS1.3 AES-128-GCM (GnuTLS records, no kTLS)"

/* the mode exchange, the first application data of each direction */
#define KM_TLS_MODE_KTLS	0x45	/* 'E' source: encrypted records, kTLS */
#define KM_TLS_MODE_PLAIN	0x50	/* 'P' source: plaintext (--insecure) */
#define KM_TLS_ACK_KTLS		0x4b	/* 'K' destination: accepted, kTLS */
#define KM_TLS_ACK_PLAIN	0x70	/* 'p' destination: accepted, plaintext */
#define KM_TLS_NAK_MODE		0x21	/* '!' destination: runs the other mode */

/* The destination's answer to mode byte @ask when it runs @plaintext:
 * KM_TLS_ACK_* or KM_TLS_NAK_MODE; @why says why a refusal (-1) happens:
 * an unknown byte, or the other mode.  Returns 0 when accepted. */
int km_tls_mode_answer(bool plaintext, unsigned char ask, unsigned char *answer, char *why,
		       size_t wlen);
/* The source's reading of @answer to its own request (@plaintext): 0, or
 * -1 with @why. */
int km_tls_mode_check(bool plaintext, unsigned char answer, char *why, size_t wlen);

struct km_tls;

/* @dir, or $KMIGRATE_TLS_DIR when @dir is NULL or "", or the default. */
const char *km_tls_dir(const char *dir);

/* Loads DIR/ca.pem, DIR/cert.pem, DIR/key.pem (checks the key matches the
 * certificate).  Returns 0, or -errno / -EINVAL with @err saying which file
 * and why. */
int km_tls_load(const char *dir, struct km_tls **out, char *err, size_t errlen);
void km_tls_free(struct km_tls *t);

/*
 * The migration stream after the handshake, the one way every byte of it
 * is written and read (source.c, dest.c).  Without a GnuTLS session (kTLS:
 * the kernel encrypts; or agreed plaintext) these are the socket calls
 * themselves; with one (no kTLS here, KM_TLS_F_RECORDS) GnuTLS's record
 * layer encrypts and decrypts in this process, in records of at most
 * 16 KiB, copying (no MSG_ZEROCOPY, no sendfile).
 *
 * km_chan_writev: bytes taken (> 0), or -1 with errno (EAGAIN: the socket
 *   is full, call again with the same data once it is writable; a record
 *   GnuTLS could not send whole is not counted until it is: the caller's
 *   iovecs must start with it again, as after a short writev()).
 * km_chan_send: the same for one buffer; @flags (MSG_NOSIGNAL, MSG_DONTWAIT)
 *   apply to a plain socket; with GnuTLS the socket's own mode counts and
 *   SIGPIPE is never raised.
 * km_chan_recv: as recv(2); 0: the peer closed (close_notify or not: the
 *   protocol's own framing says whether the stream was complete).  With
 *   GnuTLS it returns what one or more records held, and may leave
 *   decrypted bytes behind that poll() cannot see:
 * km_chan_pending: bytes already decrypted and waiting (poll with timeout
 *   0 then, or read on).
 * km_chan_free: drops the session (no close_notify); never closes the fd.
 */
struct km_chan {
	int fd;
	void *gs;		/* gnutls_session_t; NULL: the socket carries it all */
	const char *desc;	/* KM_TLS_DESC, _RECORDS or _PLAIN; NULL before */
	size_t pend;		/* a record GnuTLS holds after EAGAIN (bytes) */
	unsigned char *buf;	/* one record's plaintext, gathered */
	char err[160];		/* GnuTLS's reason for the last failure */
};

ssize_t km_chan_tls_writev(struct km_chan *c, const struct iovec *iov, int cnt);
ssize_t km_chan_tls_recv(struct km_chan *c, void *buf, size_t len);
size_t km_chan_tls_pending(struct km_chan *c);
void km_chan_free(struct km_chan *c);

static inline void km_chan_init(struct km_chan *c, int fd)
{
	c->fd = fd;
	c->gs = NULL;
	c->desc = NULL;
	c->pend = 0;
	c->buf = NULL;
	c->err[0] = '\0';
}

static inline ssize_t km_chan_writev(struct km_chan *c, const struct iovec *iov, int cnt)
{
	return c->gs ? km_chan_tls_writev(c, iov, cnt) : writev(c->fd, iov, cnt);
}

static inline ssize_t km_chan_send(struct km_chan *c, const void *buf, size_t len, int flags)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };

	return c->gs ? km_chan_tls_writev(c, &v, 1) : send(c->fd, buf, len, flags);
}

static inline ssize_t km_chan_recv(struct km_chan *c, void *buf, size_t len, int flags)
{
	return c->gs ? km_chan_tls_recv(c, buf, len) : recv(c->fd, buf, len, flags);
}

static inline size_t km_chan_pending(struct km_chan *c)
{
	return c->gs ? km_chan_tls_pending(c) : 0;
}

/* Does this kernel have kTLS (TCP_ULP "tls" known)?  A probe on an
 * unconnected socket: no handshake, nothing sent. */
bool km_tls_ktls_here(void);

/* km_tls_open's @flags */
#define KM_TLS_F_RECORDS	1u	/* no kTLS: GnuTLS's records in @ch */

/*
 * km_tls_handshake, and then the stream's transport in @ch (which must be
 * km_chan_init'ed on @fd): kTLS or plaintext as there; when the kernel has
 * no kTLS (setsockopt(TCP_ULP, "tls") fails) and @flags has
 * KM_TLS_F_RECORDS, the GnuTLS session stays in @ch (the caller
 * km_chan_free's it) instead of failing.  @ch->desc says which.
 */
int km_tls_open(struct km_tls *t, int fd, bool server, bool plaintext, unsigned int flags,
		const char *name, int timeout_ms, struct km_chan *ch, char *peer_subject,
		size_t slen, char *err, size_t errlen);

/*
 * Runs the handshake on connected TCP socket @fd (blocking or not: it is
 * blocking for the handshake and restored after), as the destination when
 * @server, verifies the peer's certificate (the source: also that it names
 * @name, the --to host or --tls-name: a DNS name or an IP literal), runs
 * the mode exchange (@plaintext: --insecure) and installs kTLS for both
 * directions, or, agreed plaintext, leaves the socket as it is.
 * @peer_subject gets the peer certificate's subject DN.  Returns 0; on
 * failure -1 with @err giving the reason (the connection is then unusable;
 * nothing of the migration has been sent or read).
 */
int km_tls_handshake(struct km_tls *t, int fd, bool server, bool plaintext, const char *name,
		     int timeout_ms, char *peer_subject, size_t slen, char *err, size_t errlen);

/* Does @crt_der (DER, the peer's certificate) name @name (DNS name or IP
 * literal, an IPv6 zone "%IF" ignored)?  true, or false with @why naming
 * the name expected, the subject and the certificate's names. */
bool km_tls_cert_names(const void *crt_der, size_t len, const char *name, char *why,
		       size_t wlen);

/*
 * The migrate request's "insecure" (boolean), "tls_dir" and "tls_name"
 * (strings) of `kmigrate start` (vmhost.c): absent means TLS with the
 * default directory, the --to host as the destination's name.  Returns 0
 * or -1 with @err set.
 */
struct json_object;
int km_tls_req_parse(struct json_object *req, bool *insecure, char *dir, size_t dlen,
		     char *name, size_t nlen, char *err, size_t errlen);

/*
 * The commands' side (`kmigrate start`, `check` and `listen`): --tls-dir
 * DIR and --insecure (also KMIGRATE_INSECURE=1 in the environment,
 * KMIGRATE_INSECURE=0 overriding the config's insecure = yes); the
 * source's --tls-name NAME (KM_TLS_NAME_LONGOPT, start only).
 */
enum { KM_TLS_OPT_DIR = 0x1001, KM_TLS_OPT_INSECURE, KM_TLS_OPT_NAME };
#define KM_TLS_LONGOPTS \
	{ "tls-dir", required_argument, NULL, KM_TLS_OPT_DIR }, \
	{ "insecure", no_argument, NULL, KM_TLS_OPT_INSECURE }
#define KM_TLS_NAME_LONGOPT \
	{ "tls-name", required_argument, NULL, KM_TLS_OPT_NAME }
#define KM_TLS_USAGE \
	"      --tls-dir DIR           credentials: DIR/ca.pem (the cluster CA),\n" \
	"                              DIR/cert.pem and DIR/key.pem (this host);\n" \
	"                              default $KMIGRATE_TLS_DIR, tls_dir in\n" \
	"                              kmigrate.conf, or /etc/kmigrate/tls; none:\n" \
	"                              exit status 2\n" \
	"      --insecure              authenticate both hosts with TLS 1.3 as\n" \
	"                              always, then send in plaintext, without\n" \
	"                              encryption or integrity protection (also\n" \
	"                              KMIGRATE_INSECURE=1, insecure = yes in the\n" \
	"                              config); the listener must run it too\n"
#define KM_TLS_NAME_USAGE \
	"      --tls-name NAME         the name the destination's certificate must\n" \
	"                              carry (subjectAltName DNS or IP); default\n" \
	"                              the host of --to\n"

struct km_tls_cli {
	bool insecure;
	char dir[4096];		/* absolute: the VM's process has another cwd */
	char name[256];		/* --tls-name; "" the --to host */
	struct km_tls *creds;	/* loaded by km_tls_cli_check */
	/* kmigrate.conf's tls_dir and insecure (km_tls_cli_conf) */
	char conf_dir[4096];
	bool conf_insecure;
};

/* The config file's defaults, before the options (tools/lib/config.h). */
static inline void km_tls_cli_conf(struct km_tls_cli *c, const char *dir, bool insecure)
{
	size_t n = 0;

	while (dir && dir[n] && n + 1 < sizeof(c->conf_dir)) {
		c->conf_dir[n] = dir[n];
		n++;
	}
	c->conf_dir[n] = '\0';
	c->conf_insecure = insecure;
}
void km_tls_cli_opt(struct km_tls_cli *c, int opt, const char *arg);
/* After the options: KMIGRATE_INSECURE, then the credentials loaded (and
 * kept in @c->creds), with or without --insecure.  Returns 0, or -1 after
 * one line on stderr (the caller exits with KM_EXIT_USAGE). */
int km_tls_cli_check(struct km_tls_cli *c, const char *cmd);
/* "insecure", "tls_dir" and "tls_name" into the migrate request */
void km_tls_cli_req(const struct km_tls_cli *c, struct json_object *req);
/* The listener's child, on accepted @fd from @peer: handshake as the
 * destination, in @c's mode (without kTLS: GnuTLS records in @ch, which
 * must be km_chan_init'ed on @fd).  One line on stderr either way
 * ("refused PEER: why"); returns 0 or -1: refused. */
int km_tls_cli_accept(struct km_tls_cli *c, int fd, const char *peer, struct km_chan *ch);
/* what a refused connection's child writes to `listen --once`: the
 * listener keeps waiting for the migration */
#define KM_TLS_REFUSED	0xfe

#endif /* KM_TLS_H */
