// The channels a socket follows (lib/ws.js owns the connection): one entry
// per channel, subscribed again after every reconnect. A task's log or items
// ("task:<id>:log", "task:<id>:items") are numbered: each resumes with
// since = the next line (item) not yet received, and what was already
// delivered is dropped, so a listener never sees a gap or a duplicate. One
// that has ended is not subscribed again.

import { RETRYABLE, RPC, sequenceField } from './wsproto.js';

/**
 * @typedef {object} ChannelsOptions
 * @property {(method: string, params: object, opts: { internal: boolean, onReply: (err: any) => void }) => number} request send a request over the socket
 * @property {(fn: Function | undefined, ...args: any[]) => void} safely call a listener, reporting what it throws
 * @property {{ setTimeout: Function, clearTimeout: Function }} timers
 * @property {number} minDelay a refused subscription is tried again after twice this
 * @property {() => boolean} isOpen is the connection open now?
 * @property {() => void} ensure connect if not connected
 */

/** @param {ChannelsOptions} options */
export function createChannels({ request, safely, timers, minDelay, isOpen, ensure }) {
  /**
   * One entry per channel; several listeners may share a plain channel.
   * @typedef {{ channel: string, seq: string, next: number, ended: boolean, confirmed: boolean, everConfirmed: boolean, subscribing: number, listeners: Set<Listener> }} Entry
   * @type {Map<string, Entry>}
   */
  const subs = new Map();

  /**
   * Channels being unsubscribed: their notifications are dropped until the
   * server answers the unsubscribe (the server sends in order, so nothing
   * of a later subscription to the same channel comes before that answer).
   * @type {Map<string, number>}
   */
  const draining = new Map();

  function onSequence(entry, data) {
    if (!data || typeof data !== 'object') return;
    if (data.end) {
      if (entry.ended) return;
      entry.ended = true;
      for (const l of [...entry.listeners]) safely(l.onData, data);
      return;
    }
    const field = entry.seq;
    if (entry.ended || !Array.isArray(data[field])) return;
    let from = Number(data.from);
    let lines = data[field];
    if (!Number.isInteger(from) || from < 0) return;
    if (from + lines.length <= entry.next) return; // all seen
    if (from > entry.next) {
      // A gap (the server promises none; be safe): read it again from next.
      resync(entry);
      return;
    }
    if (from < entry.next) {
      lines = lines.slice(entry.next - from);
      from = entry.next;
    }
    entry.next = from + lines.length;
    const out = { from, [field]: lines };
    for (const l of [...entry.listeners]) safely(l.onData, out);
  }

  function resync(entry) {
    sendUnsubscribe(entry.channel);
    entry.confirmed = false;
    sendSubscribe(entry);
  }

  function sendSubscribe(entry) {
    const params = { channel: entry.channel };
    if (entry.seq) params.since = entry.next;
    const resumed = entry.everConfirmed;
    const id = request('subscribe', params, {
      internal: true,
      onReply(err) {
        if (subs.get(entry.channel) !== entry || entry.subscribing !== id) return;
        entry.subscribing = 0;
        if (!err || err.code === RPC.ALREADY_SUBSCRIBED) {
          entry.confirmed = true;
          entry.everConfirmed = true;
          for (const l of [...entry.listeners]) safely(l.onSubscribed, { resumed });
          return;
        }
        if (RETRYABLE.has(err.code)) {
          timers.setTimeout(() => {
            if (subs.get(entry.channel) === entry && isOpen() && !entry.confirmed && !entry.subscribing) sendSubscribe(entry);
          }, minDelay * 2);
          return;
        }
        subs.delete(entry.channel);
        for (const l of [...entry.listeners]) safely(l.onError, err);
      },
    });
    entry.subscribing = id;
  }

  function sendUnsubscribe(channel) {
    const id = request('unsubscribe', { channel }, {
      internal: true,
      onReply() {
        if (draining.get(channel) === id) draining.delete(channel);
      },
    });
    draining.set(channel, id);
  }

  return {
    /** How many channels are followed. */
    get size() {
      return subs.size;
    },

    /** The connection opened: subscribe to every channel still wanted. */
    opened() {
      for (const entry of subs.values()) {
        if (!(entry.seq && entry.ended)) sendSubscribe(entry);
      }
    },

    /** The connection is gone: nothing is subscribed on the server now. */
    lost() {
      draining.clear();
      for (const entry of subs.values()) {
        entry.confirmed = false;
        entry.subscribing = 0;
      }
    },

    /** A publication arrived on channel. */
    publish(channel, data) {
      if (draining.has(channel)) return;
      const entry = subs.get(channel);
      if (!entry) return;
      if (entry.seq) onSequence(entry, data);
      else for (const l of [...entry.listeners]) safely(l.onData, data);
    },

    /**
     * Follow a channel (see Socket.subscribe).
     * @param {string} channel
     * @param {Listener & { since?: number }} listener
     * @returns {{ unsubscribe: () => void, readonly next: number }}
     */
    subscribe(channel, listener) {
      const seq = sequenceField(channel);
      let entry = subs.get(channel);
      if (entry && seq) throw new Error(`already following ${channel}`);
      if (!entry) {
        entry = {
          channel,
          seq,
          next: seq ? Math.max(0, Math.floor(listener.since ?? 0)) : 0,
          ended: false,
          confirmed: false,
          everConfirmed: false,
          subscribing: 0,
          listeners: new Set(),
        };
        subs.set(channel, entry);
        entry.listeners.add(listener);
        if (isOpen()) sendSubscribe(entry);
        else ensure();
      } else {
        entry.listeners.add(listener);
        if (entry.confirmed) {
          const e = entry;
          Promise.resolve().then(() => e.listeners.has(listener) && safely(listener.onSubscribed, { resumed: false }));
        }
      }
      const own = entry;
      let active = true;
      return {
        unsubscribe() {
          if (!active) return;
          active = false;
          own.listeners.delete(listener);
          if (own.listeners.size > 0 || subs.get(channel) !== own) return;
          subs.delete(channel);
          if (isOpen() && (own.confirmed || own.subscribing)) sendUnsubscribe(channel);
        },
        get next() {
          return own.next;
        },
      };
    },
  };
}
