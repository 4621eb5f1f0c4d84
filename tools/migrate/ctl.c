// SPDX-License-Identifier: GPL-2.0
/* The per-VM control socket of `kmigrate run`: server and client sides. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "exitcode.h"

const char *km_ctl_run_dir(void)
{
	const char *d = getenv("KMIGRATE_RUN_DIR");

	return d && *d ? d : KM_CTL_DEFAULT_DIR;
}

bool km_ctl_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n < 1 || n > KM_CTL_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int km_ctl_path(const char *name, const char *suffix, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s", km_ctl_run_dir(), name, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int km_ctl_sockaddr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Creates @dir and its missing parents; the last one 0700. */
static int km_ctl_mkdir(const char *dir)
{
	char tmp[256];
	size_t i;

	if (strlen(dir) >= sizeof(tmp))
		return -ENAMETOOLONG;
	strcpy(tmp, dir);
	for (i = 1; tmp[i]; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		tmp[i] = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------ client -- */

static uint64_t km_ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* EACCES / EPERM on @path of VM @name: -EACCES with one line in @err */
static int km_ctl_denied(const char *name, const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == 0)
		snprintf(err, errlen, "%s: permission denied: its control socket %s belongs to "
			 "uid %u, mode %04o (run this as root or as the VM's owner)", name, path,
			 (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777));
	else
		snprintf(err, errlen, "%s: permission denied: the run directory %s is not "
			 "accessible (run this as root or as the VM's owner)", name,
			 km_ctl_run_dir());
	return -EACCES;
}

int km_ctl_access(const char *name, char *err, size_t errlen)
{
	char path[256];

	if (!km_ctl_name_valid(name) || km_ctl_path(name, ".sock", path, sizeof(path)))
		return 0;	/* km_ctl_call says it */
	if (access(path, W_OK) < 0 && (errno == EACCES || errno == EPERM))
		return km_ctl_denied(name, path, err, errlen);
	return 0;
}

int km_ctl_exit_code(int r)
{
	return r == -EACCES || r == -EPERM ? KM_EXIT_PERM : KM_EXIT_FAIL;
}

int km_ctl_call(const char *name, struct json_object *req, int timeout_ms,
		struct json_object **reply, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	char path[256], buf[65536];
	const char *s;
	size_t len = 0, slen;
	uint64_t deadline = km_ctl_now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	int fd, r;

	*reply = NULL;
	if (!km_ctl_name_valid(name)) {
		snprintf(err, errlen, "invalid VM name '%s'", name);
		return -EINVAL;
	}
	if (km_ctl_path(name, ".sock", path, sizeof(path)) ||
	    km_ctl_sockaddr(path, &sa)) {
		snprintf(err, errlen, "socket path of '%s' too long", name);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return r;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		if (errno == ENOENT || errno == ECONNREFUSED) {
			snprintf(err, errlen, "no VM named '%s' is running (no listener on %s)",
				 name, path);
			r = -ENOENT;
		} else if (errno == EACCES || errno == EPERM) {
			r = km_ctl_denied(name, path, err, errlen);
		} else {
			snprintf(err, errlen, "connecting to %s: %s", path, strerror(errno));
		}
		close(fd);
		return r;
	}
	s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	slen = strlen(s);
	if (send(fd, s, slen, MSG_NOSIGNAL) != (ssize_t)slen ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		r = -errno;
		snprintf(err, errlen, "sending to %s: %s", path, strerror(errno));
		close(fd);
		return r ? r : -EIO;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(deadline - km_ctl_now_ms());
		ssize_t n;

		if (memchr(buf, '\n', len))
			break;
		if (left <= 0) {
			snprintf(err, errlen, "no reply from VM '%s' within %d ms", name, timeout_ms);
			close(fd);
			return -ETIMEDOUT;
		}
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		if (len >= sizeof(buf) - 1) {
			snprintf(err, errlen, "reply from VM '%s' too long", name);
			close(fd);
			return -EMSGSIZE;
		}
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "VM '%s' closed the connection without a reply", name);
			close(fd);
			return -ECONNRESET;
		}
		len += n;
	}
	close(fd);
	buf[len] = 0;
	*strchr(buf, '\n') = 0;
	*reply = json_tokener_parse(buf);
	if (!*reply || !json_object_is_type(*reply, json_type_object)) {
		json_object_put(*reply);
		*reply = NULL;
		snprintf(err, errlen, "VM '%s' sent a malformed reply", name);
		return -EBADMSG;
	}
	return 0;
}

int km_ctl_cmd(const char *name, const char *cmd, int timeout_ms,
	       struct json_object **reply, char *err, size_t errlen)
{
	struct json_object *req = json_object_new_object();
	int r;

	if (!req || json_object_object_add(req, "cmd", json_object_new_string(cmd))) {
		json_object_put(req);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = km_ctl_call(name, req, timeout_ms, reply, err, errlen);
	json_object_put(req);
	return r;
}

const char *km_ctl_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
	       json_object_get_string(v) : NULL;
}

int km_ctl_call_ok(const char *name, struct json_object *req, int timeout_ms,
		   struct json_object **reply, char *err, size_t errlen)
{
	struct json_object *ok;
	const char *e;
	int r = km_ctl_call(name, req, timeout_ms, reply, err, errlen);

	if (r)
		return r;
	if (json_object_object_get_ex(*reply, "ok", &ok) && !json_object_get_boolean(ok)) {
		e = km_ctl_str(*reply, "error");
		snprintf(err, errlen, "%s: %s", name, e ? e : "refused");
		json_object_put(*reply);
		*reply = NULL;
		return -EREMOTEIO;
	}
	return 0;
}

static int km_ctl_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int km_ctl_list(char ***names)
{
	DIR *d = opendir(km_ctl_run_dir());
	struct dirent *de;
	char **v = NULL;
	int n = 0, cap = 0;

	*names = NULL;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char *name;

		if (l <= 5 || strcmp(de->d_name + l - 5, ".sock"))
			continue;
		name = strndup(de->d_name, l - 5);
		if (!name)
			goto nomem;
		if (!km_ctl_name_valid(name)) {
			free(name);
			continue;
		}
		if (n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

			if (!nv) {
				free(name);
				goto nomem;
			}
			v = nv;
		}
		v[n++] = name;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), km_ctl_strcmp);
	*names = v;
	return n;
nomem:
	closedir(d);
	while (n)
		free(v[--n]);
	free(v);
	return -ENOMEM;
}

/* ------------------------------------------------------------ server -- */

int km_ctl_server_open(struct km_ctl_server *srv, const char *name,
		       char *err, size_t errlen)
{
	struct sockaddr_un sa;
	const char *dir = km_ctl_run_dir();
	int r, fd, i;

	memset(srv, 0, sizeof(*srv));
	srv->lock_fd = srv->listen_fd = -1;
	for (i = 0; i < KM_CTL_MAX_CLIENTS; i++)
		srv->clients[i].fd = -1;
	if (km_ctl_path(name, ".sock", srv->sock_path, sizeof(srv->sock_path)) ||
	    km_ctl_path(name, ".lock", srv->lock_path, sizeof(srv->lock_path)) ||
	    km_ctl_sockaddr(srv->sock_path, &sa)) {
		snprintf(err, errlen, "run directory path too long: %s", dir);
		return -ENAMETOOLONG;
	}
	r = km_ctl_mkdir(dir);
	if (r) {
		snprintf(err, errlen, "creating %s: %s", dir, strerror(-r));
		return r;
	}
	fd = open(srv->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "opening %s: %s", srv->lock_path, strerror(errno));
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		if (r == -EADDRINUSE)
			snprintf(err, errlen, "a VM named '%s' is already running (%s)",
				 name, srv->sock_path);
		else
			snprintf(err, errlen, "locking %s: %s", srv->lock_path, strerror(errno));
		close(fd);
		return r;
	}
	srv->lock_fd = fd;
	/* We hold the name: a socket left there is stale. */
	if (unlink(srv->sock_path) < 0 && errno != ENOENT) {
		r = -errno;
		snprintf(err, errlen, "removing stale %s: %s", srv->sock_path, strerror(errno));
		goto fail;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	srv->listen_fd = fd;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(srv->sock_path, 0600) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		snprintf(err, errlen, "listening on %s: %s", srv->sock_path, strerror(errno));
		goto fail;
	}
	return 0;
fail:
	km_ctl_server_close(srv);
	return r;
}

static void km_ctl_client_close(struct km_ctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

void km_ctl_server_close(struct km_ctl_server *srv)
{
	int i;

	for (i = 0; i < KM_CTL_MAX_CLIENTS; i++)
		km_ctl_client_close(&srv->clients[i]);
	if (srv->listen_fd >= 0) {
		unlink(srv->sock_path);
		close(srv->listen_fd);
		srv->listen_fd = -1;
	}
	if (srv->lock_fd >= 0) {
		unlink(srv->lock_path);
		close(srv->lock_fd);
		srv->lock_fd = -1;
	}
}

unsigned int km_ctl_server_pollfds(struct km_ctl_server *srv, struct pollfd *pfds)
{
	unsigned int n = 0;
	int i;

	pfds[n++] = (struct pollfd){ .fd = srv->listen_fd, .events = POLLIN };
	for (i = 0; i < KM_CTL_MAX_CLIENTS; i++)
		pfds[n++] = (struct pollfd){ .fd = srv->clients[i].fd, .events = POLLIN };
	return n;
}

static void km_ctl_send(struct km_ctl_client *c, struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(s), off = 0;

	while (off < len) {
		ssize_t n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += n;
	}
	if (send(c->fd, "\n", 1, MSG_NOSIGNAL) == 1)
		return;
fail:
	km_ctl_client_close(c);
}

static void km_ctl_send_error(struct km_ctl_client *c, const char *msg)
{
	struct json_object *o = json_object_new_object();

	if (o) {
		json_object_object_add(o, "ok", json_object_new_boolean(0));
		json_object_object_add(o, "error", json_object_new_string(msg));
		km_ctl_send(c, o);
		json_object_put(o);
	} else {
		km_ctl_client_close(c);
	}
}

static void km_ctl_request(struct km_ctl_client *c, const char *line,
			   km_ctl_handler fn, void *opaque)
{
	struct json_object *req, *cmd, *reply;
	char err[256] = "";

	if (!*line)
		return;		/* empty lines are ignored */
	req = json_tokener_parse(line);
	if (!req || !json_object_is_type(req, json_type_object)) {
		km_ctl_send_error(c, "malformed request: expected a JSON object");
		json_object_put(req);
		return;
	}
	if (!json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		km_ctl_send_error(c, "malformed request: no string \"cmd\"");
		json_object_put(req);
		return;
	}
	reply = fn(json_object_get_string(cmd), req, opaque, err, sizeof(err));
	json_object_put(req);
	if (!reply) {
		km_ctl_send_error(c, *err ? err : "request failed");
		return;
	}
	if (!json_object_object_get_ex(reply, "ok", NULL))
		json_object_object_add(reply, "ok", json_object_new_boolean(1));
	km_ctl_send(c, reply);
	json_object_put(reply);
}

static void km_ctl_accept(struct km_ctl_server *srv)
{
	struct timeval tv = { .tv_sec = 2 };
	int i, fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (i = 0; i < KM_CTL_MAX_CLIENTS; i++) {
		if (srv->clients[i].fd < 0) {
			/* a client that does not read its replies is dropped */
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			srv->clients[i].fd = fd;
			srv->clients[i].len = 0;
			return;
		}
	}
	{
		struct km_ctl_client tmp = { .fd = fd };

		km_ctl_send_error(&tmp, "too many clients");
		km_ctl_client_close(&tmp);
	}
}

void km_ctl_server_serve(struct km_ctl_server *srv, const struct pollfd *pfds,
			 unsigned int n, km_ctl_handler fn, void *opaque)
{
	unsigned int i;

	for (i = 1; i < n && i <= KM_CTL_MAX_CLIENTS; i++) {
		struct km_ctl_client *c = &srv->clients[i - 1];
		char *nl;
		ssize_t r;

		if (c->fd < 0 || pfds[i].fd != c->fd || !pfds[i].revents)
			continue;
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0) {
			km_ctl_client_close(c);
			continue;
		}
		c->len += r;
		c->buf[c->len] = 0;
		while (c->fd >= 0 && (nl = memchr(c->buf, '\n', c->len))) {
			size_t used = nl - c->buf + 1;

			*nl = 0;
			if (nl > c->buf && nl[-1] == '\r')
				nl[-1] = 0;
			km_ctl_request(c, c->buf, fn, opaque);
			if (c->fd < 0)
				break;
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			c->buf[c->len] = 0;
		}
		if (c->fd >= 0 && c->len >= sizeof(c->buf) - 1) {
			km_ctl_send_error(c, "request line too long");
			km_ctl_client_close(c);
		}
	}
	if (n && (pfds[0].revents & POLLIN))
		km_ctl_accept(srv);
}

void km_ctl_redirect_log(const char *name, bool append)
{
	char path[256];
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		close(fd);
	}
	if (km_ctl_path(name, ".log", path, sizeof(path)))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
}
