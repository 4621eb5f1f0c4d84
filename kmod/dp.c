// SPDX-License-Identifier: GPL-2.0
/*
 * kmigrate: the data path of a session.  A KVM VM of the caller is
 * attached, its per-vCPU dirty rings are harvested and its pages are sent
 * on a bound TCP socket as the PAGES and ZERO records of docs/PROTOCOL.md,
 * byte for byte what tools/migrate/datapath_user.c writes for the same
 * gfns.
 *
 * Every ioctl here but SET_BANDWIDTH, GET_STATS and HARVEST (which must
 * not wait for a send) runs with session->dp_lock held; HARVEST runs with
 * session->ring_lock, so that a second thread can collect the rings while
 * a round is on the wire (KMIGRATE_FEATURE_HARVEST_WHILE_SENDING); all
 * come from the process
 * that owns the VM: guest memory is read through current->mm (which is the
 * VM's) and the dirty rings are reset through KVM's own ioctl, which KVM
 * only accepts from that process.
 *
 * Why sending a page that the guest keeps writing is correct: the page is
 * handed to the network stack by reference (the stack takes its own page
 * reference, so the page cannot go away), but its contents may change
 * between the send and the transmission or a retransmission.  In a live
 * round that is the same race a copy has: a page written after it was
 * handed to the stack was dirtied after the harvest that selected it, so
 * it shows in a later harvest and is sent again in a later round, and TCP
 * delivers that later copy after this one (the last copy of a gfn wins).
 * Live rounds' payloads are therefore not digested.  In the final
 * (stop-and-copy) round the guest is paused until COMMIT or until the
 * stream is abandoned, so its pages, the only ones digested
 * (KMIGRATE_SEND_F_DIGEST_PAGES), are stable until they are acknowledged.
 * See also the comment at the top of tools/migrate/datapath_user.c.
 */
#include <linux/bitmap.h>
#include <linux/file.h>
#include <linux/highmem.h>
#include <linux/in.h>
#include <linux/kvm_host.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/xxhash.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "kmigrate.h"

/* docs/PROTOCOL.md: the record header and the two page records. */
#define KMIGRATE_REC_MAGIC	0x52474d4bU
#define KMIGRATE_REC_PAGES	3
#define KMIGRATE_REC_ZERO	4
#define KMIGRATE_PAGES_MAX	256	/* pages in one PAGES record */
#define KMIGRATE_ZERO_MAX	4096	/* gfns in one ZERO record */
/* Pages taken from the page tables at once, for consecutive addresses. */
#define KMIGRATE_GUP_BATCH	64

/* Pacing: the bucket holds 50 ms of the cap, at least 64 KiB. */
#define KMIGRATE_BUCKET_DIV	20
#define KMIGRATE_BUCKET_MIN	SZ_64K
/* Pages of a PAGES record sent per pacing step (64 KiB). */
#define KMIGRATE_PACE_PAGES	16
/* A socket send slower than this counts as a stall. */
#define KMIGRATE_STALL_NS	NSEC_PER_MSEC

struct kmigrate_rec_hdr {
	__le32 magic;
	__le16 type;
	__le16 flags;
	__le32 length;
	__le32 count;
};

/* A record's header and gfn list, as they go on the wire. */
struct kmigrate_rec {
	struct kmigrate_rec_hdr hdr;
	__le64 gfn[];
};

/**
 * struct kmigrate_dp - the data path of one session
 * @vm_file: the VM's file; its reference pins the VM and kvm.ko
 * @kvm: @vm_file's VM
 * @sock_file: the bound socket's file, NULL when none
 * @sock: @sock_file's socket
 * @ring_size: dirty ring entries per vCPU, 0 when the VM has none
 * @fetch: per vCPU index, the next ring entry to read
 * @seen: vCPU indexes whose @fetch is set (vCPUs may be added later)
 * @tokens: pacing: bytes that may be sent now (negative: a debt)
 * @pace_ns: pacing: when @tokens was last refilled
 * @pace_rate: pacing: the cap @tokens was computed with, 0 = none yet
 * @lost: entries were handed back to KVM that the caller never got (a
 *	harvest failed after collecting): the next harvest reports
 *	KMIGRATE_HARVEST_F_OVERFLOW, so the caller resends every page
 * @resync: an overflow was reported: look for the ring slots KVM skipped
 *	(kmigrate_dp_resync) at every harvest from now on
 * @gfns: the gfns of a KMIGRATE_SEND_PAGES call (KMIGRATE_BATCH_MAX)
 * @hgfns: the gfns of a KMIGRATE_HARVEST call (KMIGRATE_BATCH_MAX); with
 *	@fetch, @seen, @lost and @resync, used only under session->ring_lock
 * @hva: their host addresses (KMIGRATE_SEND_PAGES)
 * @zrec: the ZERO record being built
 * @prec: the PAGES record being built
 * @nz: gfns in @zrec
 * @np: gfns in @prec (and pages in @pages)
 * @pages: the pages of @prec, each with a reference
 * @gup: pages just taken, not filed yet
 */
struct kmigrate_dp {
	struct file *vm_file;
	struct kvm *kvm;
	struct file *sock_file;
	struct socket *sock;
	u32 ring_size;
	u32 *fetch;
	unsigned long *seen;
	s64 tokens;
	u64 pace_ns;
	u64 pace_rate;
	bool lost;
	bool resync;
	u64 *gfns;
	u64 *hgfns;
	unsigned long *hva;
	struct kmigrate_rec *zrec;
	struct kmigrate_rec *prec;
	u32 nz;
	u32 np;
	struct page *pages[KMIGRATE_PAGES_MAX];
	struct page *gup[KMIGRATE_GUP_BATCH];
};

/* What one KMIGRATE_SEND_PAGES call has done so far. */
struct kmigrate_send_ctx {
	struct xxh64_state xxh;
	bool digest_pages;
	u32 pages;
	u32 zero_pages;
	u32 records;
	u32 stalls;
	u64 bytes;
};

static void kmigrate_dp_free(struct kmigrate_dp *dp)
{
	if (!dp)
		return;
	kvfree(dp->prec);
	kvfree(dp->zrec);
	kvfree(dp->hva);
	kvfree(dp->hgfns);
	kvfree(dp->gfns);
	bitmap_free(dp->seen);
	kvfree(dp->fetch);
	kvfree(dp);
}

static struct kmigrate_dp *kmigrate_dp_alloc(void)
{
	struct kmigrate_dp *dp;

	dp = kvzalloc(sizeof(*dp), GFP_KERNEL_ACCOUNT);
	if (!dp)
		return NULL;
	dp->fetch = kvcalloc(KVM_MAX_VCPUS, sizeof(*dp->fetch),
			     GFP_KERNEL_ACCOUNT);
	dp->seen = bitmap_zalloc(KVM_MAX_VCPUS, GFP_KERNEL_ACCOUNT);
	dp->gfns = kvcalloc(KMIGRATE_BATCH_MAX, sizeof(*dp->gfns),
			    GFP_KERNEL_ACCOUNT);
	dp->hgfns = kvcalloc(KMIGRATE_BATCH_MAX, sizeof(*dp->hgfns),
			     GFP_KERNEL_ACCOUNT);
	dp->hva = kvcalloc(KMIGRATE_BATCH_MAX, sizeof(*dp->hva),
			   GFP_KERNEL_ACCOUNT);
	dp->zrec = kvzalloc(struct_size(dp->zrec, gfn, KMIGRATE_ZERO_MAX),
			    GFP_KERNEL_ACCOUNT);
	dp->prec = kvzalloc(struct_size(dp->prec, gfn, KMIGRATE_PAGES_MAX),
			    GFP_KERNEL_ACCOUNT);
	if (!dp->fetch || !dp->seen || !dp->gfns || !dp->hgfns || !dp->hva ||
	    !dp->zrec || !dp->prec) {
		kmigrate_dp_free(dp);
		return NULL;
	}
	return dp;
}

/*
 * Context: session->dp_lock held, not session->ring_lock (taken here to
 * unpublish the data path: a harvest holds it while it uses @dp); drops
 * the socket and the VM.
 */
static void kmigrate_dp_drop(struct kmigrate_session *session)
{
	struct kmigrate_dp *dp = session->dp;

	if (!dp)
		return;
	mutex_lock(&session->lock);
	put_pid(session->vm_pid);
	session->vm_pid = NULL;
	session->vm_kvm = NULL;
	session->vm_mm = NULL;
	session->state = KMIGRATE_SESSION_IDLE;
	mutex_unlock(&session->lock);

	mutex_lock(&session->ring_lock);
	session->dp = NULL;
	mutex_unlock(&session->ring_lock);
	if (dp->sock_file)
		fput(dp->sock_file);
	fput(dp->vm_file);
	kmigrate_dp_free(dp);
}

/*
 * Context: session->dp_lock or ->ring_lock held; the state a data-path
 * call needs.
 */
static enum kmigrate_session_state
kmigrate_dp_state(struct kmigrate_session *session)
{
	enum kmigrate_session_state state;

	mutex_lock(&session->lock);
	state = session->state;
	mutex_unlock(&session->lock);
	return state;
}

static bool kmigrate_dp_live(enum kmigrate_session_state state)
{
	return state == KMIGRATE_SESSION_ATTACHED ||
	       state == KMIGRATE_SESSION_RUNNING;
}

/*
 * The stream is broken: the session fails with @err and says so.
 * Context: session->dp_lock held, not session->lock.
 */
static void kmigrate_dp_fail(struct kmigrate_session *session, int err)
{
	mutex_lock(&session->lock);
	session->state = KMIGRATE_SESSION_FAILED;
	session->stats.error = -err;
	mutex_unlock(&session->lock);
	kmigrate_genl_event(session, KMIGRATE_EVENT_SESSION_ERROR);
}

/* -------------------------------------------------------- attaching -- */

static long kmigrate_dp_attach(struct kmigrate_session *session,
			       struct kmigrate_attach __user *uatt)
{
	struct kvm_memory_slot *slot;
	struct kmigrate_attach att;
	struct kvm_memslots *slots;
	struct kmigrate_dp *dp;
	struct kvm_vcpu *vcpu;
	struct file *file;
	unsigned long i;
	struct kvm *kvm;
	int bkt, idx;
	long err;

	if (copy_from_user(&att, uatt, sizeof(att)))
		return -EFAULT;
	if (att.flags)
		return -EOPNOTSUPP;
	if (att.reserved)
		return -EINVAL;
	if (session->dp)
		return -EBUSY;
	if (kmigrate_dp_state(session) != KMIGRATE_SESSION_IDLE)
		return -EBADFD;

	file = fget(att.vm_fd);
	if (!file)
		return -EBADF;
	if (!file_is_kvm(file)) {
		err = -EINVAL;
		goto err_fput;
	}
	kvm = file->private_data;
	if (kvm->mm != current->mm) {
		err = -EPERM;
		goto err_fput;
	}

	dp = kmigrate_dp_alloc();
	if (!dp) {
		err = -ENOMEM;
		goto err_fput;
	}
	dp->vm_file = file;
	dp->kvm = kvm;
	dp->ring_size = kvm->dirty_ring_size / sizeof(struct kvm_dirty_gfn);

	att.nr_memslots = 0;
	att.mem_bytes = 0;
	idx = srcu_read_lock(&kvm->srcu);
	slots = __kvm_memslots(kvm, 0);
	kvm_for_each_memslot(slot, bkt, slots) {
		if (slot->id >= KVM_USER_MEM_SLOTS)
			continue;
		att.nr_memslots++;
		att.mem_bytes += (u64)slot->npages << PAGE_SHIFT;
	}
	srcu_read_unlock(&kvm->srcu, idx);

	/* Userspace reset everything it collected before attaching. */
	kvm_for_each_vcpu(i, vcpu, kvm) {
		dp->fetch[i] = READ_ONCE(vcpu->dirty_ring.reset_index);
		__set_bit(i, dp->seen);
	}
	att.nr_vcpus = atomic_read(&kvm->online_vcpus);
	att.ring_entries = dp->ring_size;

	if (copy_to_user(uatt, &att, sizeof(att))) {
		err = -EFAULT;
		goto err_free;
	}
	/* Last check: from here on nothing fails. */
	err = kmigrate_session_claim_vm(session, kvm);
	if (err)
		goto err_free;

	mutex_lock(&session->lock);
	memset(&session->stats, 0, sizeof(session->stats));
	session->vm_pid = get_task_pid(current, PIDTYPE_TGID);
	session->vm_mm = kvm->mm;
	session->nr_vcpus = att.nr_vcpus;
	session->mem_bytes = att.mem_bytes;
	session->state = KMIGRATE_SESSION_ATTACHED;
	mutex_unlock(&session->lock);
	mutex_lock(&session->ring_lock);
	session->dp = dp;
	mutex_unlock(&session->ring_lock);

	kmigrate_genl_event(session, KMIGRATE_EVENT_SESSION_START);
	return 0;

err_free:
	kmigrate_dp_free(dp);
err_fput:
	fput(file);
	return err;
}

static long kmigrate_dp_bind(struct kmigrate_session *session,
			     struct kmigrate_bind __user *ubind)
{
	struct kmigrate_dp *dp = session->dp;
	struct kmigrate_bind bind;
	struct socket *sock;
	struct file *file;
	struct sock *sk;
	long err;

	if (copy_from_user(&bind, ubind, sizeof(bind)))
		return -EFAULT;
	if (bind.flags)
		return -EOPNOTSUPP;
	if (bind.reserved)
		return -EINVAL;
	if (!dp || !kmigrate_dp_live(kmigrate_dp_state(session)))
		return -EBADFD;
	if (dp->sock_file)
		return -EBUSY;

	file = fget(bind.sock_fd);
	if (!file)
		return -EBADF;
	sock = sock_from_file(file);
	if (!sock) {
		err = -ENOTSOCK;
		goto err_fput;
	}
	sk = sock->sk;
	if (!sk || sk->sk_type != SOCK_STREAM ||
	    sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)) {
		err = -EPROTONOSUPPORT;
		goto err_fput;
	}
	if (READ_ONCE(sk->sk_state) != TCP_ESTABLISHED) {
		err = -ENOTCONN;
		goto err_fput;
	}

	dp->sock_file = file;
	dp->sock = sock;
	return 0;

err_fput:
	fput(file);
	return err;
}

/* ------------------------------------------------------- harvesting -- */

/*
 * After an overflow (KVM wrote over entries not yet collected: it does when
 * it pushes more than its reserve in one exit, one entry per emulated guest
 * store) KVM's next entries land further on than where we read, behind
 * slots it has cleared: empty slots followed by a published entry.  Hand
 * them back as collected, so that KVM's reset walks over them and both
 * sides agree again; without this every later reset disagrees and every
 * later harvest reports an overflow.  Returns the slots handed back.
 */
static u32 kmigrate_dp_resync(struct kvm_dirty_gfn *ring, u32 size, u32 *fetch)
{
	u32 mask = size - 1, d, k, f;

	/* pairs with KVM's release of a pushed entry */
	if (smp_load_acquire(&ring[*fetch & mask].flags))
		return 0;
	for (d = 1; d < size; d++) {
		/* pairs with KVM's release of a pushed entry */
		f = smp_load_acquire(&ring[(*fetch + d) & mask].flags);
		if (f & KVM_DIRTY_GFN_F_DIRTY)
			break;
		if (f)
			return 0;	/* not that pattern: leave the ring alone */
	}
	if (d == size)
		return 0;
	for (k = 0; k < d; k++)
		/* orders with KVM_RESET_DIRTY_RINGS reading the flag */
		smp_store_release(&ring[(*fetch + k) & mask].flags,
				  KVM_DIRTY_GFN_F_RESET);
	*fetch += d;
	return d;
}

/*
 * Context: session->ring_lock held, not ->dp_lock: a send of another
 * thread may be in progress (it uses none of the ring state).
 */
static long kmigrate_dp_harvest(struct kmigrate_session *session,
				struct kmigrate_harvest __user *uh)
{
	struct kmigrate_dp *dp = session->dp;
	u64 t0 = ktime_get_ns();
	struct kmigrate_harvest h;
	struct kvm_memslots *slots;
	u32 mask, count = 0;
	u64 handed = 0, bogus = 0;
	struct kvm_vcpu *vcpu;
	unsigned long i;
	struct kvm *kvm;
	int idx;
	long r;

	if (copy_from_user(&h, uh, sizeof(h)))
		return -EFAULT;
	if (h.flags)
		return -EOPNOTSUPP;
	if (h.reserved)
		return -EINVAL;
	if (!h.max_gfns || h.max_gfns > KMIGRATE_BATCH_MAX ||
	    h.nr_ring_fetch > KVM_MAX_VCPUS)
		return -EINVAL;
	if (!dp || !kmigrate_dp_live(kmigrate_dp_state(session)))
		return -EBADFD;
	if (!dp->ring_size)
		return -EOPNOTSUPP;

	/* From here on entries are handed back: a failure loses them. */
	if (dp->lost)
		h.flags |= KMIGRATE_HARVEST_F_OVERFLOW;
	dp->lost = true;
	kvm = dp->kvm;
	mask = dp->ring_size - 1;
	idx = srcu_read_lock(&kvm->srcu);
	slots = __kvm_memslots(kvm, 0);
	kvm_for_each_vcpu(i, vcpu, kvm) {
		struct kvm_dirty_gfn *ring = vcpu->dirty_ring.dirty_gfns;
		u32 fetch;

		if (!test_bit(i, dp->seen)) {
			dp->fetch[i] = READ_ONCE(vcpu->dirty_ring.reset_index);
			__set_bit(i, dp->seen);
		}
		if (count >= h.max_gfns || !ring)
			continue;
		fetch = dp->fetch[i];
		if (dp->resync) {
			u32 skipped = kmigrate_dp_resync(ring, dp->ring_size,
							 &fetch);

			/* the trace of an overflow: report it (again) */
			if (skipped)
				h.flags |= KMIGRATE_HARVEST_F_OVERFLOW;
			handed += skipped;
		}
		/*
		 * KVM makes a vCPU exit well before its ring is full; a
		 * completely full ring means it pushed more in one go and
		 * may have overwritten entries not collected yet.
		 */
		if (smp_load_acquire(&ring[(fetch + mask) & mask].flags) &
		    KVM_DIRTY_GFN_F_DIRTY)
			h.flags |= KMIGRATE_HARVEST_F_OVERFLOW;
		while (count < h.max_gfns) {
			struct kvm_dirty_gfn *e = &ring[fetch & mask];
			struct kvm_memory_slot *slot = NULL;
			u32 as_id, id;
			u64 off;

			/* pairs with KVM's release of a pushed entry */
			if (!(smp_load_acquire(&e->flags) &
			      KVM_DIRTY_GFN_F_DIRTY))
				break;
			as_id = READ_ONCE(e->slot) >> 16;
			id = READ_ONCE(e->slot) & 0xffff;
			off = READ_ONCE(e->offset);
			if (as_id == 0 && id < KVM_USER_MEM_SLOTS)
				slot = id_to_memslot(slots, id);
			if (slot && off < slot->npages)
				dp->hgfns[count++] = slot->base_gfn + off;
			else
				bogus++;
			/* slot and offset read before KVM may reuse it */
			smp_store_release(&e->flags, KVM_DIRTY_GFN_F_RESET);
			fetch++;
			handed++;
		}
		dp->fetch[i] = fetch;
	}
	srcu_read_unlock(&kvm->srcu, idx);

	if (handed) {
		/* KVM re-protects what was handed back, in our (its) mm. */
		r = dp->vm_file->f_op->unlocked_ioctl(dp->vm_file,
						      KVM_RESET_DIRTY_RINGS, 0);
		if (r < 0)
			return r;
		h.reset = r;
		/* KVM and we disagree about a ring: entries may be lost. */
		if (r != handed)
			h.flags |= KMIGRATE_HARVEST_F_OVERFLOW;
	}
	if (bogus)
		pr_debug("session %u: %llu dirty ring entries outside memory slots\n",
			 session->id, bogus);

	if (copy_to_user(u64_to_user_ptr(h.gfns), dp->hgfns,
			 (size_t)count * sizeof(*dp->hgfns)))
		return -EFAULT;
	if (h.ring_fetch) {
		u32 __user *uf = u64_to_user_ptr(h.ring_fetch);
		u32 n;

		for (n = 0; n < h.nr_ring_fetch; n++) {
			u32 v = 0;

			if (test_bit(n, dp->seen))
				v = dp->fetch[n];
			if (put_user(v, uf + n))
				return -EFAULT;
		}
	}

	h.count = count;
	h.harvest_ns = ktime_get_ns() - t0;
	mutex_lock(&session->lock);
	session->stats.pages_harvested += count;
	session->stats.harvest_ns += h.harvest_ns;
	mutex_unlock(&session->lock);

	if (h.flags & KMIGRATE_HARVEST_F_OVERFLOW)
		dp->resync = true;
	if (copy_to_user(uh, &h, sizeof(h)))
		return -EFAULT;
	dp->lost = false;
	return 0;
}

/* ---------------------------------------------------------- sending -- */

/*
 * The bytes @rate (per second) allows in @ns nanoseconds, at most @max.
 * Any u64 is a valid cap, and ns * rate passes 64 bits after a second at
 * a cap near U64_MAX: mul_u64_u64_div_u64() cannot be used on the whole
 * (x86's divq faults when the quotient does not fit), so whole seconds
 * are multiplied with an overflow check and only the rest, whose
 * quotient is below @rate, is divided.
 */
static u64 kmigrate_pace_refill(u64 ns, u64 rate, u64 max)
{
	u64 secs, add, part;
	u32 rem;

	secs = div_u64_rem(ns, NSEC_PER_SEC, &rem);
	if (secs && rate > div64_u64(max, secs))
		return max;
	add = secs * rate;
	if (add >= max)
		return max;
	part = mul_u64_u32_div(rate, rem, NSEC_PER_SEC);
	return part >= max - add ? max : add + part;
}

/*
 * Waits until the cap allows another @bytes: a token bucket of 50 ms of
 * the cap (at least 64 KiB) that may go into debt by one record.  A
 * change of the cap wakes the wait, which starts over with the new one.
 */
static int kmigrate_dp_pace(struct kmigrate_session *session,
			    struct kmigrate_dp *dp, u64 bytes,
			    struct kmigrate_send_ctx *ctx)
{
	bool waited = false;

	for (;;) {
		u64 rate = READ_ONCE(session->bandwidth);
		s64 burst;
		u64 wait_ns, now;
		long ret;

		if (!rate) {
			dp->pace_rate = 0;
			break;
		}
		now = ktime_get_ns();
		burst = max_t(u64, rate / KMIGRATE_BUCKET_DIV,
			      KMIGRATE_BUCKET_MIN);
		if (!dp->pace_rate) {
			dp->tokens = burst;
		} else {
			dp->tokens += kmigrate_pace_refill(now - dp->pace_ns,
							   dp->pace_rate,
							   (u64)burst * 2);
		}
		dp->pace_rate = rate;
		dp->pace_ns = now;
		if (dp->tokens > burst)
			dp->tokens = burst;
		if (dp->tokens > 0)
			break;

		waited = true;
		wait_ns = mul_u64_u64_div_u64(-dp->tokens, NSEC_PER_SEC, rate);
		ret = wait_event_killable_timeout(session->bw_wait,
						  READ_ONCE(session->bandwidth) != rate,
						  max_t(unsigned long, 1,
							nsecs_to_jiffies(wait_ns)));
		if (ret < 0)
			return -EINTR;
	}
	dp->tokens -= bytes;
	if (waited)
		ctx->stalls++;
	return 0;
}

/* A socket error as the caller sees it: the stream cannot be resumed. */
static int kmigrate_dp_sock_err(int err)
{
	return err == -ERESTARTSYS ? -EINTR : err;
}

/* Sends @len bytes at @buf (a record's header and gfns) by copy. */
static int kmigrate_dp_send_buf(struct kmigrate_dp *dp, const void *buf,
				size_t len, bool more,
				struct kmigrate_send_ctx *ctx)
{
	unsigned long since = 0;
	size_t off = 0;

	while (off < len) {
		struct msghdr msg = {
			.msg_flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0),
		};
		struct kvec kv = {
			.iov_base = (void *)buf + off,
			.iov_len = len - off,
		};
		u64 t0 = ktime_get_ns();
		int ret;

		ret = kernel_sendmsg(dp->sock, &msg, &kv, 1, kv.iov_len);
		if (ret == -EAGAIN || ktime_get_ns() - t0 > KMIGRATE_STALL_NS)
			ctx->stalls++;
		if (ret < 0 && kmigrate_send_again(dp->sock, ret, &since))
			continue;
		if (ret < 0)
			return kmigrate_dp_sock_err(ret);
		if (!ret)
			return -EPIPE;
		off += ret;
	}
	ctx->bytes += len;
	return 0;
}

static void kmigrate_dp_rec_hdr(struct kmigrate_rec *rec, u16 type,
				u32 length, u32 count)
{
	rec->hdr.magic = cpu_to_le32(KMIGRATE_REC_MAGIC);
	rec->hdr.type = cpu_to_le16(type);
	rec->hdr.flags = 0;
	rec->hdr.length = cpu_to_le32(length);
	rec->hdr.count = cpu_to_le32(count);
}

/* Writes the pending ZERO record, if any. */
static int kmigrate_dp_flush_zero(struct kmigrate_session *session,
				  struct kmigrate_dp *dp, bool more,
				  struct kmigrate_send_ctx *ctx)
{
	u32 nz = dp->nz;
	size_t len;
	int err;

	if (!nz)
		return 0;
	len = struct_size(dp->zrec, gfn, nz);
	kmigrate_dp_rec_hdr(dp->zrec, KMIGRATE_REC_ZERO, nz * sizeof(u64), nz);
	err = kmigrate_dp_pace(session, dp, len, ctx);
	if (err)
		return err;
	err = kmigrate_dp_send_buf(dp, dp->zrec, len, more, ctx);
	if (err)
		return err;
	xxh64_update(&ctx->xxh, dp->zrec, len);
	dp->nz = 0;
	ctx->records++;
	ctx->zero_pages += nz;
	return 0;
}

static void kmigrate_dp_put_pages(struct kmigrate_dp *dp)
{
	u32 i;

	for (i = 0; i < dp->np; i++)
		put_page(dp->pages[i]);
	dp->np = 0;
}

/* Writes the pending PAGES record, if any, and drops its pages. */
static int kmigrate_dp_flush_pages(struct kmigrate_session *session,
				   struct kmigrate_dp *dp, bool more,
				   struct kmigrate_send_ctx *ctx)
{
	u32 np = dp->np, i, chunk, step;
	bool stalled = false;
	size_t len;
	u64 t0;
	int err;

	if (!np)
		return 0;
	len = struct_size(dp->prec, gfn, np);
	kmigrate_dp_rec_hdr(dp->prec, KMIGRATE_REC_PAGES,
			    np * (sizeof(u64) + PAGE_SIZE), np);
	err = kmigrate_dp_pace(session, dp, len, ctx);
	if (err)
		goto out;
	err = kmigrate_dp_send_buf(dp, dp->prec, len, true, ctx);
	if (err)
		goto out;
	xxh64_update(&ctx->xxh, dp->prec, len);
	if (ctx->digest_pages) {
		for (i = 0; i < np; i++) {
			void *p = kmap_local_page(dp->pages[i]);

			xxh64_update(&ctx->xxh, p, PAGE_SIZE);
			kunmap_local(p);
		}
	}
	/*
	 * Under a cap, the pages in steps of KMIGRATE_PACE_PAGES, each paced
	 * (a whole record is 1 MiB, half a second of a 2 MiB/s cap); without
	 * one, in one send.  A cap set meanwhile applies from the next record.
	 */
	step = READ_ONCE(session->bandwidth) ? KMIGRATE_PACE_PAGES : np;
	for (i = 0; i < np; i += chunk) {
		chunk = min_t(u32, np - i, step);
		err = kmigrate_dp_pace(session, dp, (u64)chunk * PAGE_SIZE, ctx);
		if (err)
			goto out;
		t0 = ktime_get_ns();
		err = kmigrate_send_pages(dp->sock, dp->pages + i, chunk,
					  more || i + chunk < np);
		if (err == -EAGAIN || ktime_get_ns() - t0 > KMIGRATE_STALL_NS)
			stalled = true;
		if (err) {
			err = kmigrate_dp_sock_err(err);
			goto out;
		}
	}
	if (stalled)
		ctx->stalls++;
	ctx->bytes += (u64)np * PAGE_SIZE;
	ctx->records++;
	ctx->pages += np;
out:
	kmigrate_dp_put_pages(dp);
	return err;
}

/*
 * Takes a reference on the pages of up to KMIGRATE_GUP_BATCH gfns from
 * @i on whose host addresses follow each other (one page-table walk for
 * the run); fewer when a page is not there, the next call then fails on
 * it.  Return: pages taken (at least one), or -EFAULT (-EINTR on a fatal
 * signal).
 */
static int kmigrate_dp_gup(struct kmigrate_dp *dp, u32 i, u32 n)
{
	u32 run = 1;
	int got;

	while (i + run < n && run < KMIGRATE_GUP_BATCH &&
	       dp->hva[i + run] == dp->hva[i] + run * PAGE_SIZE)
		run++;
	got = get_user_pages_fast(dp->hva[i], run, 0, dp->gup);
	if (got > 0)
		return got;
	return got == -EINTR ? -EINTR : -EFAULT;
}

/*
 * Files one page: all-zero ones (dropped at once) into the ZERO record,
 * the others (the reference kept until sent) into the PAGES record; a
 * record that is full is written.
 */
static int kmigrate_dp_add_page(struct kmigrate_session *session,
				struct kmigrate_dp *dp, u64 gfn,
				struct page *page, struct kmigrate_send_ctx *ctx)
{
	void *p = kmap_local_page(page);
	bool zero = !memchr_inv(p, 0, PAGE_SIZE);

	kunmap_local(p);
	if (zero) {
		put_page(page);
		dp->zrec->gfn[dp->nz++] = cpu_to_le64(gfn);
		if (dp->nz < KMIGRATE_ZERO_MAX)
			return 0;
		return kmigrate_dp_flush_zero(session, dp, true, ctx);
	}
	dp->prec->gfn[dp->np] = cpu_to_le64(gfn);
	dp->pages[dp->np++] = page;
	if (dp->np < KMIGRATE_PAGES_MAX)
		return 0;
	return kmigrate_dp_flush_pages(session, dp, true, ctx);
}

/*
 * The records for @n gfns, batched like dpu_send_pages(): zero pages
 * collect into a ZERO record written when it has KMIGRATE_ZERO_MAX gfns,
 * the others into a PAGES record written at KMIGRATE_PAGES_MAX pages; at
 * the end the ZERO record goes first, then the PAGES record.  No page
 * reference is left when this returns.
 */
static int kmigrate_dp_send_gfns(struct kmigrate_session *session,
				 struct kmigrate_dp *dp, u32 n,
				 struct kmigrate_send_ctx *ctx)
{
	u32 i = 0, j;
	int got, err;

	dp->nz = 0;
	dp->np = 0;
	while (i < n) {
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			goto err_put;
		}
		got = kmigrate_dp_gup(dp, i, n);
		if (got < 0) {
			err = got;
			goto err_put;
		}
		for (j = 0; j < got; j++) {
			err = kmigrate_dp_add_page(session, dp, dp->gfns[i + j],
						   dp->gup[j], ctx);
			if (err) {
				while (++j < got)
					put_page(dp->gup[j]);
				goto err_put;
			}
		}
		i += got;
	}
	err = kmigrate_dp_flush_zero(session, dp, dp->np != 0, ctx);
	if (err)
		goto err_put;
	return kmigrate_dp_flush_pages(session, dp, false, ctx);

err_put:
	kmigrate_dp_put_pages(dp);
	return err;
}

static void kmigrate_digest_in(struct xxh64_state *s,
			       const struct kmigrate_digest *d)
{
	memset(s, 0, sizeof(*s));
	s->total_len = d->total_len;
	s->v1 = d->v[0];
	s->v2 = d->v[1];
	s->v3 = d->v[2];
	s->v4 = d->v[3];
	BUILD_BUG_ON(sizeof(s->mem64) != sizeof(d->mem));
	memcpy(s->mem64, d->mem, sizeof(s->mem64));
	s->memsize = d->memsize;
}

static void kmigrate_digest_out(struct kmigrate_digest *d,
				const struct xxh64_state *s)
{
	d->total_len = s->total_len;
	d->v[0] = s->v1;
	d->v[1] = s->v2;
	d->v[2] = s->v3;
	d->v[3] = s->v4;
	memcpy(d->mem, s->mem64, sizeof(d->mem));
	d->memsize = s->memsize;
}

static long kmigrate_dp_send(struct kmigrate_session *session,
			     struct kmigrate_send __user *us)
{
	struct kmigrate_dp *dp = session->dp;
	struct kmigrate_send_ctx ctx = {};
	struct kvm_memslots *slots;
	struct kmigrate_send s;
	u64 t0 = ktime_get_ns();
	struct kvm *kvm;
	int idx, err;
	u32 i;

	if (copy_from_user(&s, us, sizeof(s)))
		return -EFAULT;
	if (s.flags & ~KMIGRATE_SEND_F_ALL)
		return -EOPNOTSUPP;
	if (s.digest.reserved || s.digest.memsize >= sizeof(s.digest.mem))
		return -EINVAL;
	if (!s.nr_gfns || s.nr_gfns > KMIGRATE_BATCH_MAX)
		return -EINVAL;
	/* A round must have started, on a bound socket. */
	if (!dp || !dp->sock ||
	    kmigrate_dp_state(session) != KMIGRATE_SESSION_RUNNING)
		return -EBADFD;
	if (copy_from_user(dp->gfns, u64_to_user_ptr(s.gfns),
			   (size_t)s.nr_gfns * sizeof(*dp->gfns)))
		return -EFAULT;

	/* Every gfn in a memory slot, or nothing is sent. */
	kvm = dp->kvm;
	idx = srcu_read_lock(&kvm->srcu);
	slots = __kvm_memslots(kvm, 0);
	for (i = 0; i < s.nr_gfns; i++) {
		struct kvm_memory_slot *slot;

		slot = __gfn_to_memslot(slots, dp->gfns[i]);
		if (!slot || slot->id >= KVM_USER_MEM_SLOTS ||
		    (slot->flags & KVM_MEMSLOT_INVALID))
			break;
		dp->hva[i] = slot->userspace_addr +
			     (dp->gfns[i] - slot->base_gfn) * PAGE_SIZE;
	}
	srcu_read_unlock(&kvm->srcu, idx);
	if (i < s.nr_gfns)
		return -ERANGE;

	kmigrate_digest_in(&ctx.xxh, &s.digest);
	ctx.digest_pages = s.flags & KMIGRATE_SEND_F_DIGEST_PAGES;
	err = kmigrate_dp_send_gfns(session, dp, s.nr_gfns, &ctx);

	s.send_ns = ktime_get_ns() - t0;
	mutex_lock(&session->lock);
	session->stats.pages_sent += ctx.pages;
	session->stats.zero_pages += ctx.zero_pages;
	session->stats.bytes_sent += ctx.bytes;
	session->stats.send_ns += s.send_ns;
	session->stats.send_stalls += ctx.stalls;
	mutex_unlock(&session->lock);
	if (err) {
		kmigrate_dp_fail(session, err);
		return err;
	}

	kmigrate_digest_out(&s.digest, &ctx.xxh);
	s.pages = ctx.pages;
	s.zero_pages = ctx.zero_pages;
	s.records = ctx.records;
	s.stalls = ctx.stalls;
	s.bytes = ctx.bytes;
	if (copy_to_user(us, &s, sizeof(s)))
		return -EFAULT;
	return 0;
}

/* ------------------------------------------------ rounds and the end -- */

static long kmigrate_dp_round(struct kmigrate_session *session,
			      struct kmigrate_round __user *uround)
{
	struct kmigrate_round round;
	long err = 0;

	if (copy_from_user(&round, uround, sizeof(round)))
		return -EFAULT;
	if (round.flags & ~KMIGRATE_ROUND_F_ALL)
		return -EOPNOTSUPP;
	if (!session->dp)
		return -EBADFD;

	mutex_lock(&session->lock);
	if (!kmigrate_dp_live(session->state))
		err = -EBADFD;
	else if (session->stats.rounds ? round.round != session->stats.round + 1
				       : round.round != 0)
		err = -EINVAL;
	if (!err) {
		session->state = KMIGRATE_SESSION_RUNNING;
		session->stats.round = round.round;
		session->stats.rounds++;
	}
	mutex_unlock(&session->lock);
	if (err)
		return err;

	kmigrate_genl_event(session, KMIGRATE_EVENT_ROUND);
	return 0;
}

static long kmigrate_dp_end(struct kmigrate_session *session,
			    struct kmigrate_end __user *uend)
{
	enum kmigrate_event event = KMIGRATE_EVENT_SESSION_END;
	struct kmigrate_end end;
	long err = 0;

	if (copy_from_user(&end, uend, sizeof(end)))
		return -EFAULT;
	if (end.flags)
		return -EOPNOTSUPP;
	if (end.error > MAX_ERRNO)
		return -EINVAL;
	if (!session->dp)
		return -EBADFD;

	mutex_lock(&session->lock);
	switch (session->state) {
	case KMIGRATE_SESSION_ATTACHED:
	case KMIGRATE_SESSION_RUNNING:
		if (end.error) {
			session->state = KMIGRATE_SESSION_FAILED;
			session->stats.error = end.error;
			event = KMIGRATE_EVENT_SESSION_ERROR;
		} else {
			session->state = KMIGRATE_SESSION_DONE;
		}
		break;
	case KMIGRATE_SESSION_FAILED:
		/* A broken stream stays failed, with its first error. */
		if (!session->stats.error)
			session->stats.error = end.error ? end.error : EIO;
		event = KMIGRATE_EVENT_SESSION_ERROR;
		break;
	default:
		err = -EBADFD;
		break;
	}
	mutex_unlock(&session->lock);
	if (err)
		return err;

	kmigrate_genl_event(session, event);
	return 0;
}

static long kmigrate_dp_set_bandwidth(struct kmigrate_session *session,
				      struct kmigrate_bandwidth __user *ubw)
{
	struct kmigrate_bandwidth bw;

	if (copy_from_user(&bw, ubw, sizeof(bw)))
		return -EFAULT;
	if (bw.flags)
		return -EOPNOTSUPP;
	if (bw.reserved)
		return -EINVAL;
	kmigrate_session_bandwidth_set(session, bw.bytes_per_sec);
	return 0;
}

static long kmigrate_dp_get_stats(struct kmigrate_session *session,
				  struct kmigrate_stats __user *ustats)
{
	struct kmigrate_stats stats;

	kmigrate_session_stats(session, &stats);
	if (copy_to_user(ustats, &stats, sizeof(stats)))
		return -EFAULT;
	return 0;
}

/**
 * kmigrate_dp_ioctl - the data-path ioctls of a session's file
 * @session: the file's session
 * @cmd: the ioctl
 * @argp: its argument
 *
 * Context: process context; takes session->lock, and session->dp_lock
 * (killable) for all but KMIGRATE_SET_BANDWIDTH, KMIGRATE_GET_STATS and
 * KMIGRATE_HARVEST, which must not wait for a send in progress
 * (KMIGRATE_HARVEST takes session->ring_lock instead).
 * Return: 0 or a negative errno; -ENOTTY for an ioctl that is not one of
 * the data path's.
 */
long kmigrate_dp_ioctl(struct kmigrate_session *session, unsigned int cmd,
		       void __user *argp)
{
	bool owner;
	long err;

	switch (cmd) {
	case KMIGRATE_ATTACH_VM:
	case KMIGRATE_DETACH_VM:
	case KMIGRATE_BIND_SOCKET:
	case KMIGRATE_SET_BANDWIDTH:
	case KMIGRATE_ROUND:
	case KMIGRATE_HARVEST:
	case KMIGRATE_SEND_PAGES:
	case KMIGRATE_END:
	case KMIGRATE_GET_STATS:
		break;
	default:
		return -ENOTTY;
	}

	/* Only the VM's owner may drive its migration. */
	mutex_lock(&session->lock);
	owner = !session->vm_mm || session->vm_mm == current->mm;
	mutex_unlock(&session->lock);
	if (!owner)
		return -EPERM;

	/* These two must not wait for a send (which may wait for the cap). */
	if (cmd == KMIGRATE_SET_BANDWIDTH)
		return kmigrate_dp_set_bandwidth(session, argp);
	if (cmd == KMIGRATE_GET_STATS)
		return kmigrate_dp_get_stats(session, argp);
	if (cmd == KMIGRATE_HARVEST) {
		if (mutex_lock_killable(&session->ring_lock))
			return -EINTR;
		if (session->dp && session->dp->kvm->mm != current->mm)
			err = -EPERM;
		else
			err = kmigrate_dp_harvest(session, argp);
		mutex_unlock(&session->ring_lock);
		return err;
	}

	if (mutex_lock_killable(&session->dp_lock))
		return -EINTR;
	/* Checked again: the VM may have been attached meanwhile. */
	if (session->dp && session->dp->kvm->mm != current->mm) {
		err = -EPERM;
		goto out;
	}

	switch (cmd) {
	case KMIGRATE_ATTACH_VM:
		err = kmigrate_dp_attach(session, argp);
		break;
	case KMIGRATE_DETACH_VM:
		err = session->dp ? 0 : -EBADFD;
		kmigrate_dp_drop(session);
		break;
	case KMIGRATE_BIND_SOCKET:
		err = kmigrate_dp_bind(session, argp);
		break;
	case KMIGRATE_ROUND:
		err = kmigrate_dp_round(session, argp);
		break;
	case KMIGRATE_SEND_PAGES:
		err = kmigrate_dp_send(session, argp);
		break;
	default:
		err = kmigrate_dp_end(session, argp);
		break;
	}
out:
	mutex_unlock(&session->dp_lock);
	return err;
}

/**
 * kmigrate_dp_release - drop the data path of a file being released
 * @session: the file's session
 *
 * Context: process context; the last reference to the file is gone, so no
 * ioctl runs; takes session->dp_lock and session->lock.
 */
void kmigrate_dp_release(struct kmigrate_session *session)
{
	mutex_lock(&session->dp_lock);
	kmigrate_dp_drop(session);
	mutex_unlock(&session->dp_lock);
}
