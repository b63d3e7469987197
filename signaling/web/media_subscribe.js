// The subscribe PC: the server sends `subscribe_offer` events (versioned), the
// browser answers with `subscribe_answer`; after every negotiation the tracks
// are mapped to participants by the offer's a=msid (stream id = participant id,
// track id `screen-...` = a screen share). Also its statistics per participant.
//
//   const sub = createSubscribe(m, peers);  // m: the media state shared by media.js
//   sub.onOffer(event); sub.drain(); await sub.remoteStats();

// mid → {kind, mid, pid, trackId} from a remote offer.
export function msidByMid(sdp) {
  const out = new Map();
  let cur = null;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      cur = { kind: line.slice(2).split(' ')[0], mid: null, pid: null, trackId: '' };
    } else if (cur && line.startsWith('a=mid:')) {
      cur.mid = line.slice(6).trim();
      out.set(cur.mid, cur);
    } else if (cur && line.startsWith('a=msid:')) {
      const [pid, trackId] = line.slice(7).trim().split(/\s+/);
      cur.pid = pid;
      cur.trackId = trackId || '';
    }
  }
  return out;
}

const slotOf = (info) => (info.trackId.startsWith('screen-') ? 'screen' : info.kind);

export function createSubscribe(m, peers) {
  const { state, ctx } = m;

  function onOffer(ev) {
    state.subOffers.push(ev);
    if (state.started) drain();
  }

  function drain() {
    state.subChain = state.subChain.then(async () => {
      while (state.subOffers.length && !state.stopped) {
        const ev = state.subOffers.shift();
        if (ev.version <= state.subVersion) continue;
        if (state.subOffers.some((o) => o.version > ev.version)) continue; // a newer one replaces it
        await answer(ev);
      }
    }).catch((e) => m.recordError({ pc: 'subscribe', code: 'negotiation', message: String(e) }));
  }

  async function answer({ sdp, version }) {
    if (!state.sub) {
      state.sub = peers.newPc('subscribe');
      state.sub.addEventListener('track', () => mapRemoteTracks());
      m.exposeForTests();
    }
    const pc = state.sub;
    state.subMids = msidByMid(sdp);
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    state.subVersion = version;
    try {
      await ctx.request('subscribe_answer', { sdp: pc.localDescription.sdp, version });
    } catch (e) {
      m.recordError({ pc: 'subscribe', ...e }); // version_mismatch: a newer offer is on its way
    }
    for (const c of state.subRemoteCands.splice(0)) await peers.addRemoteCandidate(pc, c);
    mapRemoteTracks();
  }

  // Rebuilds pid → tracks from the subscribe PC's receiving transceivers and the
  // last offer's msid lines.
  function mapRemoteTracks() {
    const remote = new Map();
    for (const tx of state.sub?.getTransceivers() || []) {
      const info = state.subMids.get(tx.mid);
      const dir = tx.currentDirection;
      if (!info || !info.pid || tx.stopped || !(dir === 'recvonly' || dir === 'sendrecv')) continue;
      const entry = remote.get(info.pid) || {};
      const slot = slotOf(info);
      entry[slot] = tx.receiver.track;
      entry[`${slot}Mid`] = tx.mid;
      remote.set(info.pid, entry);
    }
    state.remote = remote;
    m.render();
  }

  // Per remote participant: inbound audio/video counters of the subscribe PC.
  async function remoteStats() {
    const out = {};
    for (const tx of state.sub?.getTransceivers() || []) {
      const info = state.subMids.get(tx.mid);
      if (!info?.pid || tx.stopped) continue;
      const slot = slotOf(info);
      let stats;
      try { stats = await tx.receiver.getStats(); } catch { continue; }
      stats.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        const o = (out[info.pid] ||= {});
        o[slot] = {
          packetsReceived: r.packetsReceived || 0, packetsLost: r.packetsLost || 0,
          framesDecoded: r.framesDecoded || 0, freezeCount: r.freezeCount || 0,
          totalFreezesDuration: r.totalFreezesDuration || 0, nackCount: r.nackCount || 0,
          keyFramesDecoded: r.keyFramesDecoded || 0, audioLevel: r.audioLevel || 0,
          totalAudioEnergy: r.totalAudioEnergy || 0, bytesReceived: r.bytesReceived || 0,
          frameWidth: r.frameWidth || 0, frameHeight: r.frameHeight || 0, // the simulcast layer forwarded
        };
      });
    }
    return out;
  }

  return { onOffer, drain, remoteStats };
}
