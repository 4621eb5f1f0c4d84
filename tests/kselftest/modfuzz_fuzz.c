// SPDX-License-Identifier: GPL-2.0
/*
 * modfuzz: the fuzzer's operations: random and hostile calls on
 * /dev/kmigrate and the generic netlink family, each checked against the
 * model (modfuzz_model.c).
 */

#include "modfuzz.h"

/* ---- the operations ------------------------------------------------------ */

void fz_open(struct fz *z)
{
	struct fz_sess *s = fz_pick(z, false);
	int fd;

	if (!s)
		return;
	fd = kmt_open(O_RDWR);
	if (fd == -EBUSY)	/* the genl fuzz may have lowered the limit */
		return;
	if (fd < 0) {
		fz_mismatch(z, "open /dev/kmigrate: %s", strerror(-fd));
		return;
	}
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->vm = -1;
	s->state = KMIGRATE_SESSION_IDLE;
	z->ok_op[OP_OPEN]++;
}

void fz_close(struct fz *z)
{
	struct fz_sess *s = fz_pick(z, true);

	if (!s)
		return;
	close(s->fd);
	s->fd = -1;
	if (s->vm >= 0)
		z->holder[s->vm] = NULL;
	z->ok_op[OP_CLOSE]++;
}

void fz_attach(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_attach a;
	const struct fz_fd *f = &z->fds[rn(&z->r, z->nfds)];
	void *arg = &a;
	int want, got;

	memset(&a, 0, sizeof(a));
	a.vm_fd = f->fd;
	want = f->attach;
	if (one_in(&z->r, 8)) {
		a.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 10)) {
		a.reserved = (uint32_t)rnd(&z->r) | 1;
		want = -EINVAL;
	} else if (s->vm >= 0) {
		want = -EBUSY;
	} else if (f->vm >= 0 && z->holder[f->vm]) {
		want = -EBUSY;		/* one session per VM */
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_ATTACH_VM, arg);
	fz_expect(z, "ATTACH_VM", want, got);
	if (!got) {
		z->holder[f->vm] = s;
		s->vm = f->vm;
		s->sock = false;
		s->state = KMIGRATE_SESSION_ATTACHED;
		s->rounds = s->round = 0;
		s->error = 0;
		if (a.nr_memslots != (f->vm == VM_RING && z->slot1_on ? 2u : 1u))
			fz_mismatch(z, "ATTACH_VM: %u memory slots", a.nr_memslots);
		if (a.ring_entries != z->vm[f->vm].ring_entries)
			fz_mismatch(z, "ATTACH_VM: %u ring entries", a.ring_entries);
	}
}

void fz_detach(struct fz *z, struct fz_sess *s)
{
	int got = xioctl(s->fd, KMIGRATE_DETACH_VM, NULL);

	fz_expect(z, "DETACH_VM", s->vm >= 0 ? 0 : -EBADFD, got);
	if (s->vm >= 0)
		z->holder[s->vm] = NULL;
	s->vm = -1;
	s->sock = false;
	s->state = KMIGRATE_SESSION_IDLE;
}

void fz_bind(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_bind b;
	const struct fz_fd *f = &z->fds[rn(&z->r, z->nfds)];
	void *arg = &b;
	int want, got;

	memset(&b, 0, sizeof(b));
	/* a real connection half the time */
	if (one_in(&z->r, 2)) {
		int k = rn(&z->r, FZ_SOCKS);

		b.sock_fd = z->tx[k];
		want = 0;
	} else {
		b.sock_fd = f->fd;
		want = f->bind;
	}
	if (one_in(&z->r, 8)) {
		b.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 10)) {
		b.reserved = rnd(&z->r) | 1;
		want = -EINVAL;
	} else if (s->vm < 0 || !live(s->state)) {
		want = -EBADFD;
	} else if (s->sock) {
		want = -EBUSY;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_BIND_SOCKET, arg);
	fz_expect(z, "BIND_SOCKET", want, got);
	if (!got)
		s->sock = true;
}

void fz_round(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_round r;
	void *arg = &r;
	uint32_t next = s->rounds ? s->round + 1 : 0;
	int want = 0, got;

	memset(&r, 0, sizeof(r));
	r.round = one_in(&z->r, 6) ? (uint32_t)rnd(&z->r) : next;
	r.dirty_pages = rnd(&z->r);
	if (one_in(&z->r, 4))
		r.flags = KMIGRATE_ROUND_F_FINAL;
	if (one_in(&z->r, 8)) {
		r.flags |= 2u << rn(&z->r, 31);
		want = -EOPNOTSUPP;
	} else if (s->vm < 0 || !live(s->state)) {
		want = -EBADFD;
	} else if (r.round != next) {
		want = -EINVAL;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_ROUND, arg);
	fz_expect(z, "ROUND", want, got);
	if (!got) {
		s->state = KMIGRATE_SESSION_RUNNING;
		s->round = r.round;
		s->rounds++;
	}
}

void fz_harvest(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_harvest h;
	void *arg = &h;
	bool maybe_fault = false, maybe_einval = false;
	int want = 0, got;

	memset(&h, 0, sizeof(h));
	h.gfns = (uintptr_t)z->hbuf;
	switch (rn(&z->r, 6)) {
	case 0: h.max_gfns = 1; break;
	case 1: h.max_gfns = KMIGRATE_BATCH_MAX; break;
	case 2: h.max_gfns = one_in(&z->r, 2) ? 0 : KMIGRATE_BATCH_MAX + 1 + rn(&z->r, 1u << 20); break;
	default: h.max_gfns = 1 + rn(&z->r, KMIGRATE_BATCH_MAX); break;
	}
	if (one_in(&z->r, 3)) {
		h.ring_fetch = (uintptr_t)z->fetch;
		h.nr_ring_fetch = one_in(&z->r, 4) ? rn(&z->r, ARRAY_SIZE(z->fetch))
						   : rn(&z->r, 8);
		if (h.nr_ring_fetch > FZ_KVM_MAX_VCPUS)
			maybe_einval = true;	/* KVM_MAX_VCPUS: 1024, or 4096 (MAXSMP) */
	}
	if (one_in(&z->r, 10)) {
		h.gfns = (uintptr_t)fz_badptr(z);
		maybe_fault = true;	/* only when something was collected */
	}
	if (one_in(&z->r, 12) && h.ring_fetch) {
		h.ring_fetch = (uintptr_t)z->unmapped;
		maybe_fault |= h.nr_ring_fetch > 0;	/* h.gfns may be bad too */
	}
	if (one_in(&z->r, 8)) {
		h.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
		maybe_einval = false;
	} else if (one_in(&z->r, 10)) {
		h.reserved = (uint32_t)rnd(&z->r) | 1;
		want = -EINVAL;
	} else if (!h.max_gfns || h.max_gfns > KMIGRATE_BATCH_MAX ||
		   h.nr_ring_fetch > 5 * FZ_KVM_MAX_VCPUS) {
		want = -EINVAL;
	} else if (s->vm < 0 || !live(s->state)) {
		want = -EBADFD;
		maybe_fault = false;
	} else if (!z->vm[s->vm].ring_entries) {
		want = -EOPNOTSUPP;
		maybe_fault = false;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
		maybe_einval = maybe_fault = false;
	}
	got = xioctl(s->fd, KMIGRATE_HARVEST, arg);
	if (got != want && !(maybe_fault && got == -EFAULT) &&
	    !(maybe_einval && got == -EINVAL))
		fz_expect(z, "HARVEST", want, got);
	if (!got) {
		uint32_t i;

		if (h.count > h.max_gfns)
			fz_mismatch(z, "HARVEST: count %u > max %u", h.count, h.max_gfns);
		for (i = 0; i < h.count && arg == &h && h.gfns == (uintptr_t)z->hbuf; i++) {
			uint64_t g = z->hbuf[i];

			if (g >= DP_MEM_PAGES &&
			    (g < FZ_SLOT1_GPA / DP_PAGE_SIZE ||
			     g >= (FZ_SLOT1_GPA + FZ_SLOT1_SIZE) / DP_PAGE_SIZE)) {
				fz_mismatch(z, "HARVEST: gfn 0x%llx outside the slots",
					    (unsigned long long)g);
				break;
			}
		}
	}
}

void fz_send(struct fz *z, struct fz_sess *s)
{
	static const uint64_t caps[] = { 0, 0, 64ull << 20, 1ull << 30, UINT64_MAX,
					 1ull << 63, 100000000000ull };
	struct kmigrate_send a;
	void *arg = &a;
	uint32_t n, i;
	bool all_valid = true, gfns_bad = false;
	int want = 0, got;

	/* A sane cap first: the genl fuzz may have set one of 1 byte/s. */
	got = set_bw(s->fd, caps[rn(&z->r, ARRAY_SIZE(caps))]);
	fz_expect(z, "SET_BANDWIDTH before a send", 0, got);

	memset(&a, 0, sizeof(a));
	switch (rn(&z->r, 6)) {
	case 0: n = KMIGRATE_BATCH_MAX; break;
	case 1: n = one_in(&z->r, 2) ? 0 : KMIGRATE_BATCH_MAX + 1 + rn(&z->r, 1u << 24); break;
	case 2: n = 1; break;
	default: n = 1 + rn(&z->r, 600); break;
	}
	if (n && n <= KMIGRATE_BATCH_MAX) {
		bool one_bad = one_in(&z->r, 4);
		int vm = s->vm >= 0 ? s->vm : VM_RING;

		for (i = 0; i < n; i++) {
			bool valid;

			if (one_bad && i == n - 1 - rn(&z->r, n))
				z->gfns[i] = fz_gfn(z, vm, &valid);
			else if (one_in(&z->r, 3) && i)
				z->gfns[i] = z->gfns[i - 1] + 1;	/* runs for GUP */
			else
				z->gfns[i] = rn(&z->r, DP_MEM_PAGES);
		}
	}
	a.gfns = (uintptr_t)z->gfns;
	a.nr_gfns = n;
	a.flags = one_in(&z->r, 3) ? KMIGRATE_SEND_F_DIGEST_PAGES : 0;
	a.digest.total_len = rnd(&z->r);
	a.digest.v[0] = rnd(&z->r);
	a.digest.memsize = rn(&z->r, 32);
	if (n > 16 && n <= KMIGRATE_BATCH_MAX && one_in(&z->r, 10)) {
		/* the gfn array straddles the end of the mapping */
		a.gfns = (uintptr_t)((char *)z->unmapped - 8 * rn(&z->r, 16));
		gfns_bad = true;
	}
	if (one_in(&z->r, 8)) {
		a.flags |= 2u << rn(&z->r, 31);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 10)) {
		if (one_in(&z->r, 2))
			a.digest.reserved = (uint32_t)rnd(&z->r) | 1;
		else
			a.digest.memsize = 32 + rn(&z->r, 1u << 30);
		want = -EINVAL;
	} else if (!n || n > KMIGRATE_BATCH_MAX) {
		want = -EINVAL;
	} else if (s->vm < 0 || !s->sock || s->state != KMIGRATE_SESSION_RUNNING) {
		want = -EBADFD;
	} else if (gfns_bad) {
		want = -EFAULT;
	} else {
		/* gfns checked against the session's VM, its slots now */
		for (i = 0; i < n; i++)
			all_valid &= fz_gfn_valid(z, s->vm, z->gfns[i]);
		want = all_valid ? 0 : -ERANGE;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_SEND_PAGES, arg);
	fz_expect(z, "SEND_PAGES", want, got);
	if (!got && a.pages + a.zero_pages != n)
		fz_mismatch(z, "SEND_PAGES: %u pages + %u zero for %u gfns",
			    a.pages, a.zero_pages, n);
}

void fz_end(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_end e;
	void *arg = &e;
	int want = 0, got;

	memset(&e, 0, sizeof(e));
	e.error = one_in(&z->r, 2) ? 0 : rn(&z->r, 200);
	if (one_in(&z->r, 8)) {
		e.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 8)) {
		e.error = 4096 + rn(&z->r, 1u << 30);
		want = -EINVAL;
	} else if (s->vm < 0 || (!live(s->state) &&
				 s->state != KMIGRATE_SESSION_FAILED)) {
		want = -EBADFD;
	}
	if (one_in(&z->r, 12)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	got = xioctl(s->fd, KMIGRATE_END, arg);
	fz_expect(z, "END", want, got);
	if (!got) {
		if (s->state == KMIGRATE_SESSION_FAILED)
			;
		else if (e.error)
			s->state = KMIGRATE_SESSION_FAILED;
		else
			s->state = KMIGRATE_SESSION_DONE;
	}
}

void fz_bw(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_bandwidth b;
	void *arg = &b;
	int want = 0;

	memset(&b, 0, sizeof(b));
	b.bytes_per_sec = rnd(&z->r);
	if (one_in(&z->r, 6)) {
		b.flags = 1u << rn(&z->r, 32);
		want = -EOPNOTSUPP;
	} else if (one_in(&z->r, 6)) {
		b.reserved = (uint32_t)rnd(&z->r) | 1;
		want = -EINVAL;
	}
	if (one_in(&z->r, 10)) {
		arg = fz_badptr(z);
		want = -EFAULT;
	}
	fz_expect(z, "SET_BANDWIDTH", want, xioctl(s->fd, KMIGRATE_SET_BANDWIDTH, arg));
}

void fz_stats(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_stats st;
	int got;

	if (one_in(&z->r, 10)) {
		fz_expect(z, "GET_STATS", -EFAULT,
			  xioctl(s->fd, KMIGRATE_GET_STATS, fz_badptr(z)));
		return;
	}
	got = get_state(s->fd, &st);
	fz_expect(z, "GET_STATS", 0, got);
	if (got)
		return;
	/* A send that failed on the socket makes it FAILED: follow. */
	if (st.state == KMIGRATE_SESSION_FAILED && s->state == KMIGRATE_SESSION_RUNNING &&
	    st.error) {
		fz_mismatch(z, "session failed unexpectedly: %s", strerror(st.error));
		return;
	}
	if (st.state != (uint32_t)s->state)
		fz_mismatch(z, "GET_STATS: state %u, model %d", st.state, s->state);
	if (s->vm >= 0 && st.rounds != s->rounds)
		fz_mismatch(z, "GET_STATS: %u rounds, model %u", st.rounds, s->rounds);
}

void fz_version(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_version v;
	struct kmigrate_features f;
	int want = 0;

	switch (rn(&z->r, 3)) {
	case 0:
		memset(&v, 0, sizeof(v));
		if (one_in(&z->r, 3)) {
			v.flags = (uint32_t)rnd(&z->r) | 1;
			want = -EOPNOTSUPP;
		}
		fz_expect(z, "GET_VERSION", want, xioctl(s->fd, KMIGRATE_GET_VERSION, &v));
		if (!want && v.abi_version != KMIGRATE_ABI_VERSION)
			fz_mismatch(z, "GET_VERSION: abi %u", v.abi_version);
		break;
	case 1:
		fz_expect(z, "GET_FEATURES", 0, xioctl(s->fd, KMIGRATE_GET_FEATURES, &f));
		break;
	default:
		memset(&f, 0, sizeof(f));
		f.features = one_in(&z->r, 2) ? KMIGRATE_FEATURES_ALL : 0;
		switch (rn(&z->r, 4)) {
		case 0:
			f.features |= 2ull << rn(&z->r, 63);
			want = -EOPNOTSUPP;
			break;
		case 1:
			f.flags = 1u << rn(&z->r, 32);
			want = -EOPNOTSUPP;
			break;
		case 2:
			f.reserved = (uint32_t)rnd(&z->r) | 1;
			want = -EINVAL;
			break;
		}
		fz_expect(z, "SET_FEATURES", want, xioctl(s->fd, KMIGRATE_SET_FEATURES, &f));
		break;
	}
}

/* Any ioctl number with our magic that is not one of the uapi's: ENOTTY. */
void fz_raw(struct fz *z, struct fz_sess *s)
{
	static const unsigned long known[] = {
		KMIGRATE_GET_VERSION, KMIGRATE_GET_FEATURES, KMIGRATE_SET_FEATURES,
		KMIGRATE_ATTACH_VM, KMIGRATE_DETACH_VM, KMIGRATE_BIND_SOCKET,
		KMIGRATE_SET_BANDWIDTH, KMIGRATE_ROUND, KMIGRATE_HARVEST,
		KMIGRATE_SEND_PAGES, KMIGRATE_END, KMIGRATE_GET_STATS,
	};
	static uint8_t buf[1 << 14];
	unsigned long cmd;
	unsigned int i;

	do {
		unsigned int nr = rn(&z->r, 256), size = rn(&z->r, 1u << 14);

		if (one_in(&z->r, 2)) {
			/* a known number with another size or direction */
			cmd = known[rn(&z->r, ARRAY_SIZE(known))];
			nr = _IOC_NR(cmd);
			if (one_in(&z->r, 2))
				size = _IOC_SIZE(cmd) + 1 + rn(&z->r, 64);
		}
		/* our magic only: other numbers may be the VFS's (FIOCLEX...) */
		cmd = _IOC(rn(&z->r, 4), KMIGRATE_IOC_MAGIC, nr, size);
		for (i = 0; i < ARRAY_SIZE(known); i++)
			if (cmd == known[i])
				break;
	} while (i < ARRAY_SIZE(known));
	fz_expect(z, "unknown ioctl", -ENOTTY, xioctl(s->fd, cmd, buf));
}

/* ---- generic netlink, raw bytes ------------------------------------------ */

static int fz_nl_put(uint8_t *p, size_t room, uint16_t type, const void *data,
		     uint16_t len)
{
	struct nlattr *a = (struct nlattr *)p;
	size_t tot = NLA_ALIGN(NLA_HDRLEN + len);

	if (tot > room)
		return 0;
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy(p + NLA_HDRLEN, data, len);
	memset(p + NLA_HDRLEN + len, 0, tot - NLA_HDRLEN - len);
	return tot;
}

/* Random attributes: types 0..15 (KMIGRATE_A_MAX is 11), lengths around
 * the right ones and far off, nests with their own random attributes. */
static size_t fz_nl_attrs(struct fz *z, uint8_t *p, size_t room, int depth,
			  int *nattrs)
{
	size_t o = 0;
	int n = rn(&z->r, 5), i;

	for (i = 0; i < n; i++) {
		uint8_t data[600];
		uint16_t type = rn(&z->r, 16), len;
		uint64_t v = rnd(&z->r);

		switch (rn(&z->r, 8)) {
		case 0: len = 0; break;
		case 1: len = 1 + rn(&z->r, 3); break;
		case 2: len = 4; v = rn(&z->r, 300); break;
		case 3: len = 8; break;
		case 4: len = rn(&z->r, sizeof(data)); break;
		default: len = one_in(&z->r, 2) ? 4 : 8; break;
		}
		memset(data, 0, sizeof(data));
		memcpy(data, &v, sizeof(v) < len ? sizeof(v) : len);
		if (len > 8)
			for (uint16_t k = 8; k < len; k++)
				data[k] = rnd(&z->r);
		if ((type == KMIGRATE_A_SESSION || one_in(&z->r, 10)) && depth < 2) {
			struct nlattr *a = (struct nlattr *)(p + o);
			size_t in;

			if (room - o < NLA_HDRLEN + 256)
				break;
			in = fz_nl_attrs(z, p + o + NLA_HDRLEN, room - o - NLA_HDRLEN - 8,
					 depth + 1, nattrs);
			a->nla_type = type | (one_in(&z->r, 2) ? NLA_F_NESTED : 0);
			a->nla_len = NLA_HDRLEN + in;
			o += NLA_ALIGN(a->nla_len);
			(*nattrs)++;
		} else {
			int put;

			if (one_in(&z->r, 20))
				type |= NLA_F_NESTED;
			put = fz_nl_put(p + o, room - o, type, data, len);
			o += put;
			if (put)
				(*nattrs)++;
		}
	}
	return o;
}

/* Sends one message; 0 and the kernel's error, or a transport failure. */
static int fz_nl_xfer(struct fz *z, uint8_t *msg, size_t len, int *kerr, int *replies)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	static uint8_t buf[1 << 16];
	uint32_t seq = nlh->nlmsg_seq;

	*kerr = 1;
	*replies = 0;
	if (send(z->nl, msg, len, 0) != (ssize_t)len)
		return -errno;
	for (;;) {
		ssize_t n = recv(z->nl, buf, sizeof(buf), 0);
		struct nlmsghdr *h;
		int left;

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		left = n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)left);
		     h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq)
				continue;	/* left over from an earlier one */
			if (h->nlmsg_type == NLMSG_ERROR) {
				*kerr = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
				return 0;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				*kerr = 0;
				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
					*kerr = *(int *)NLMSG_DATA(h);
				return 0;
			}
			(*replies)++;
		}
	}
}

void fz_genl(struct fz *z)
{
	static uint8_t msg[1 << 15];
	struct nlmsghdr *nlh = (struct nlmsghdr *)msg;
	struct genlmsghdr *g = NLMSG_DATA(nlh);
	int nattrs = 0, kerr, replies, err;
	bool dump, sane;
	size_t len;
	uint8_t cmd;

	memset(msg, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	cmd = one_in(&z->r, 6) ? rn(&z->r, 256) : 1 + rn(&z->r, 5);
	dump = cmd == KMIGRATE_CMD_GET_SESSION ? !one_in(&z->r, 5) : one_in(&z->r, 8);
	nlh->nlmsg_type = z->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0);
	nlh->nlmsg_seq = ++z->seq;
	g->cmd = cmd;
	g->version = one_in(&z->r, 10) ? rn(&z->r, 256) : KMIGRATE_GENL_VERSION;
	g->reserved = one_in(&z->r, 10) ? 1 + rn(&z->r, 0xffff) : 0;
	len = NLMSG_HDRLEN + GENL_HDRLEN;
	if (cmd == KMIGRATE_CMD_SET_SESSION && one_in(&z->r, 2)) {
		/* close to valid: a session nest with an id that may exist */
		uint8_t in[64];
		uint32_t id = 1 + rn(&z->r, 64);
		uint64_t bw = one_in(&z->r, 2) ? 0 : rnd(&z->r);
		size_t o = 0;
		struct nlattr *a = (struct nlattr *)(msg + len);

		if (!one_in(&z->r, 6))
			o += fz_nl_put(in + o, sizeof(in) - o, KMIGRATE_SESSION_A_ID, &id, 4);
		if (!one_in(&z->r, 6))
			o += fz_nl_put(in + o, sizeof(in) - o, KMIGRATE_SESSION_A_BANDWIDTH, &bw, 8);
		if (one_in(&z->r, 6))
			o += fz_nl_put(in + o, sizeof(in) - o, KMIGRATE_SESSION_A_STATE, &id, 4);
		a->nla_type = KMIGRATE_A_SESSION | (one_in(&z->r, 2) ? NLA_F_NESTED : 0);
		a->nla_len = NLA_HDRLEN + o;
		memcpy(msg + len + NLA_HDRLEN, in, o);
		len += NLA_ALIGN(a->nla_len);
		nattrs = 1;
	} else if (!one_in(&z->r, 3)) {
		len += fz_nl_attrs(z, msg + len, sizeof(msg) - len, 0, &nattrs);
	}
	if (sizeof(msg) - len > 1024 && one_in(&z->r, 30)) {
		/* one attribute as big as the message allows */
		size_t big = sizeof(msg) - len - NLA_HDRLEN - 8;
		static uint8_t junk[1 << 15];

		len += fz_nl_put(msg + len, sizeof(msg) - len, rn(&z->r, 12), junk,
				 big > 0xfff0 ? 0xfff0 : big);
		nattrs++;
	}
	nlh->nlmsg_len = len;
	/* an attribute whose length runs past the message */
	if (nattrs && one_in(&z->r, 20))
		((struct nlattr *)(msg + NLMSG_HDRLEN + GENL_HDRLEN))->nla_len += 4 + rn(&z->r, 400);

	z->genl_msgs++;
	err = fz_nl_xfer(z, msg, len, &kerr, &replies);
	if (err) {
		fz_mismatch(z, "genl cmd %u: no answer (%s)", cmd, strerror(-err));
		return;
	}
	if (!kerr)
		z->genl_ok++;
	/* Every answer is one of these. */
	if (kerr && kerr != -EINVAL && kerr != -EOPNOTSUPP && kerr != -ENOENT &&
	    kerr != -ERANGE && kerr != -EMSGSIZE) {
		fz_mismatch(z, "genl cmd %u%s: error %d", cmd, dump ? " (dump)" : "", kerr);
		return;
	}
	sane = !g->reserved;
	/* What the uapi header promises for each command. */
	if (sane && (cmd == KMIGRATE_CMD_UNSPEC || cmd > KMIGRATE_CMD_SET_SESSION)) {
		fz_expect(z, "genl unknown command", -EOPNOTSUPP, kerr);
	} else if (sane && cmd == KMIGRATE_CMD_GET_INFO && !dump) {
		fz_expect(z, "genl GET_INFO", nattrs ? -EINVAL : 0, kerr);
		if (!kerr && replies != 1)
			fz_mismatch(z, "genl GET_INFO: %d replies", replies);
	} else if (sane && cmd == KMIGRATE_CMD_GET_SESSION && dump && !nattrs) {
		fz_expect(z, "genl GET_SESSION dump", 0, kerr);
	} else if (sane && cmd == KMIGRATE_CMD_GET_SESSION && dump) {
		fz_expect(z, "genl GET_SESSION dump with attributes", -EINVAL, kerr);
	} else if (sane && !dump && cmd == KMIGRATE_CMD_SET_CONFIG && !nattrs) {
		fz_expect(z, "genl SET_CONFIG with nothing", -EINVAL, kerr);
	}
}

/* ---- the VMs, the fds ---------------------------------------------------- */

void fz_slot(struct fz *z)
{
	struct kvm_userspace_memory_region r = {
		.slot = 1, .flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = FZ_SLOT1_GPA,
		.memory_size = z->slot1_on ? 0 : FZ_SLOT1_SIZE,
		.userspace_addr = (uintptr_t)z->slot1,
	};

	if (ioctl(z->vm[VM_RING].vm, KVM_SET_USER_MEMORY_REGION, &r)) {
		fz_mismatch(z, "KVM_SET_USER_MEMORY_REGION slot 1: %s", strerror(errno));
		return;
	}
	z->slot1_on = !z->slot1_on;
	/* A session attached before counts the slots it had; no model there. */
}

void fz_write(struct fz *z)
{
	struct dp_vm *v = &z->vm[rn(&z->r, FZ_VMS)];
	uint32_t n = 1 + rn(&z->r, 64), i;

	for (i = 0; i < n; i++) {
		uint64_t g = DP_STAMP_FIRST + rn(&z->r, DP_STAMP_PAGES);

		if (one_in(&z->r, 3))
			memset(v->mem + g * DP_PAGE_SIZE, 0, DP_PAGE_SIZE);
		else
			memset(v->mem + g * DP_PAGE_SIZE + rn(&z->r, DP_PAGE_SIZE),
			       (int)rnd(&z->r) | 1, 1);
	}
	if (z->slot1_on)
		memset((char *)z->slot1 + rn(&z->r, FZ_SLOT1_SIZE), 0x5a, 1);
}

/* Another process drives a session of ours: every call -EPERM once a VM is
 * attached (the VM's mm is not the child's). */
void fz_fork(struct fz *z, struct fz_sess *s)
{
	struct kmigrate_round r = { 0 };
	int status;
	pid_t pid;

	if (s->vm < 0)
		return;
	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		uint64_t g = 20;
		int a = harvest(s->fd, z->hbuf, 8, NULL, NULL);
		int b = send_gfns(s->fd, &g, 1, 0, NULL);
		int c = xioctl(s->fd, KMIGRATE_ROUND, &r);
		int d = xioctl(s->fd, KMIGRATE_DETACH_VM, NULL);

		_exit(a == -EPERM && b == -EPERM && c == -EPERM && d == -EPERM ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		fz_mismatch(z, "a child's calls on our attached session were not all EPERM");
}
