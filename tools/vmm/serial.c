// SPDX-License-Identifier: GPL-2.0
/*
 * libvmm: a 16550A-compatible UART, the register model only (no ports, no
 * KVM): linux.c puts it at 0x3f8 / IRQ 4 and serialises the calls.
 *
 * Transmit is immediate: a byte written to THR goes to the tx callback and
 * THR is empty again, so LSR always shows THRE|TEMT and, with IER.THRI,
 * a THRE interrupt is pending until IIR reports it or THR is written.
 * Receive: a VMM_UART_FIFO-byte FIFO filled by vmm_uart_receive(); data
 * ready raises the RDA interrupt (no trigger levels, no character timeout:
 * any byte is reported at once); a byte arriving at a full FIFO sets the
 * overrun bit.  MCR loopback routes THR to the receive side and the modem
 * control bits to MSR, as the 8250 driver's probe expects.  The interrupt
 * line is reported to the irq callback whenever its level changes; the
 * line is not gated by MCR.OUT2 (as in QEMU and kvmtool).
 */
#include <errno.h>
#include <string.h>
#include "vmm.h"

#define UART_RBR	0	/* in, DLAB 0 */
#define UART_IER	1
#define UART_IIR	2	/* in */
#define UART_FCR	2	/* out */
#define UART_LCR	3
#define UART_MCR	4
#define UART_LSR	5
#define UART_MSR	6
#define UART_SCR	7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IER_RLSI	0x04
#define IER_MSI		0x08
#define IIR_NO_INT	0x01
#define IIR_MSI		0x00
#define IIR_THRI	0x02
#define IIR_RDI		0x04
#define IIR_RLSI	0x06
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define LCR_DLAB	0x80
#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MSR_DCTS	0x01
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

void vmm_uart_init(struct vmm_uart *u, void (*tx)(void *, uint8_t),
		   void (*irq)(void *, int), void *opaque)
{
	memset(u, 0, sizeof(*u));
	u->tx = tx;
	u->irq = irq;
	u->opaque = opaque;
	u->lsr = LSR_THRE | LSR_TEMT;
	u->msr = MSR_DCD | MSR_DSR | MSR_CTS;	/* a terminal is there */
	u->dll = 0x0c;				/* 9600 baud */
}

static uint8_t uart_iir(const struct vmm_uart *u)
{
	uint8_t fifo = u->fcr & FCR_ENABLE ? IIR_FIFO : 0;

	if ((u->ier & IER_RLSI) && (u->lsr & LSR_OE))
		return IIR_RLSI | fifo;
	if ((u->ier & IER_RDI) && u->rx_count)
		return IIR_RDI | fifo;
	if ((u->ier & IER_THRI) && u->thr_ipending)
		return IIR_THRI | fifo;
	if ((u->ier & IER_MSI) && (u->msr & 0x0f))
		return IIR_MSI | fifo;
	return IIR_NO_INT | fifo;
}

static void uart_update_irq(struct vmm_uart *u)
{
	int level = !(uart_iir(u) & IIR_NO_INT);

	if (level != u->irq_level) {
		u->irq_level = level;
		if (u->irq)
			u->irq(u->opaque, level);
	}
}

static bool uart_rx_push(struct vmm_uart *u, uint8_t c)
{
	if (u->rx_count == VMM_UART_FIFO) {
		u->lsr |= LSR_OE;
		return false;
	}
	u->rx[(u->rx_head + u->rx_count++) % VMM_UART_FIFO] = c;
	u->lsr |= LSR_DR;
	return true;
}

size_t vmm_uart_receive(struct vmm_uart *u, const uint8_t *buf, size_t n)
{
	size_t i;

	if (u->mcr & MCR_LOOP)
		return 0;	/* the line is disconnected in loopback */
	for (i = 0; i < n && u->rx_count < VMM_UART_FIFO; i++)
		uart_rx_push(u, buf[i]);
	uart_update_irq(u);
	return i;
}

size_t vmm_uart_rx_room(const struct vmm_uart *u)
{
	return (u->mcr & MCR_LOOP) ? 0 : VMM_UART_FIFO - u->rx_count;
}

/* MSR in loopback: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2. */
static uint8_t uart_loop_msr(uint8_t mcr)
{
	return (uint8_t)((mcr & MCR_RTS ? MSR_CTS : 0) | (mcr & MCR_DTR ? MSR_DSR : 0) |
			 (mcr & MCR_OUT1 ? MSR_RI : 0) | (mcr & MCR_OUT2 ? MSR_DCD : 0));
}

uint8_t vmm_uart_read(struct vmm_uart *u, unsigned int off)
{
	uint8_t v = 0;

	switch (off & 7) {
	case UART_RBR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % VMM_UART_FIFO;
			if (!--u->rx_count)
				u->lsr &= (uint8_t)~LSR_DR;
		}
		break;
	case UART_IER:
		return u->lcr & LCR_DLAB ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_iir(u);
		if ((v & 0x0f) == IIR_THRI)
			u->thr_ipending = false;	/* reading IIR acknowledges THRE */
		break;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = u->lsr;
		u->lsr &= (uint8_t)~LSR_OE;		/* cleared by reading */
		break;
	case UART_MSR:
		v = u->msr;
		u->msr &= 0xf0;				/* deltas cleared by reading */
		break;
	case UART_SCR:
		return u->scr;
	}
	uart_update_irq(u);
	return v;
}

void vmm_uart_write(struct vmm_uart *u, unsigned int off, uint8_t v)
{
	switch (off & 7) {
	case UART_RBR:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			return;
		}
		if (u->mcr & MCR_LOOP)
			uart_rx_push(u, v);
		else if (u->tx)
			u->tx(u->opaque, v);
		u->thr_ipending = true;		/* sent at once: THR empty again */
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			return;
		}
		/* enabling THRI with THR empty raises it at once, as on real chips */
		if ((v & IER_THRI) && !(u->ier & IER_THRI))
			u->thr_ipending = true;
		u->ier = v & 0x0f;
		break;
	case UART_FCR:
		u->fcr = v & 0xc9;
		if (v & FCR_CLEAR_RX) {
			u->rx_count = 0;
			u->rx_head = 0;
			u->lsr &= (uint8_t)~LSR_DR;
		}
		break;
	case UART_LCR:
		u->lcr = v;
		return;
	case UART_MCR: {
		uint8_t old = u->mcr;

		u->mcr = v & 0x1f;
		if (u->mcr & MCR_LOOP) {
			uint8_t m = uart_loop_msr(u->mcr);

			if ((m ^ u->msr) & MSR_CTS)
				m |= MSR_DCTS;
			u->msr = m | (u->msr & 0x0f);
		} else if (old & MCR_LOOP) {
			u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
		}
		break;
	}
	case UART_LSR:
	case UART_MSR:
		return;				/* read-only */
	case UART_SCR:
		u->scr = v;
		return;
	}
	uart_update_irq(u);
}

void vmm_uart_save(const struct vmm_uart *u, struct vmm_uart_state *s)
{
	memset(s, 0, sizeof(*s));
	s->ier = u->ier;
	s->lcr = u->lcr;
	s->mcr = u->mcr;
	s->lsr = u->lsr;
	s->msr = u->msr;
	s->scr = u->scr;
	s->dll = u->dll;
	s->dlm = u->dlm;
	s->fcr = u->fcr;
	s->thr_ipending = u->thr_ipending;
	s->irq_level = (uint8_t)(u->irq_level != 0);
	s->rx_head = (uint8_t)u->rx_head;
	s->rx_count = (uint8_t)u->rx_count;
	memcpy(s->rx, u->rx, sizeof(s->rx));
}

int vmm_uart_load(struct vmm_uart *u, const struct vmm_uart_state *s)
{
	if (s->rx_head >= VMM_UART_FIFO || s->rx_count > VMM_UART_FIFO || s->irq_level > 1 ||
	    s->thr_ipending > 1)
		return -EINVAL;
	u->ier = s->ier & 0x0f;
	u->lcr = s->lcr;
	u->mcr = s->mcr & 0x1f;
	u->lsr = s->lsr;
	u->msr = s->msr;
	u->scr = s->scr;
	u->dll = s->dll;
	u->dlm = s->dlm;
	u->fcr = s->fcr;
	u->thr_ipending = s->thr_ipending;
	u->rx_head = s->rx_head;
	u->rx_count = s->rx_count;
	memcpy(u->rx, s->rx, sizeof(u->rx));
	/* the line as the model computes it now, told to the interrupt
	 * controller even if unchanged: its input pin starts low here */
	u->irq_level = !(uart_iir(u) & IIR_NO_INT);
	if (u->irq && u->irq_level)
		u->irq(u->opaque, 1);
	return 0;
}
