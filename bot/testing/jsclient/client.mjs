// A matrix-js-sdk client (Rust crypto) that talks to the bot the way a strict
// Element user would: own identity cross-signed, device isolation mode
// "only signed devices" (Element's "exclude insecure devices").
//
// Run by tests/integration/test_js_sdk_client.py through bot/testing/jsenv.py,
// which installs matrix-js-sdk and a Node 22 binary into .js-env/ and copies
// this file next to its node_modules (ESM imports resolve from the script's
// location, not from the working directory or NODE_PATH).
//
// Input: one JSON object on the first line of stdin
//   { homeserver, user_id, password, bot_user_id, command, timeout_ms }
// Output: exactly one line on stdout, "FKJS-RESULT " + JSON; everything else
// (the SDK's logging included) goes to stderr. Exit code 0 only if the whole
// exchange worked; 1 with "error" in the result otherwise.
//
// Session mode ({ ..., session: true }, no command; tests/integration/
// test_failover_strict.py): after the room is set up and the bot has joined, the
// client prints "FKJS-READY " + JSON and then answers one request per stdin line
// with one "FKJS-ANSWER " + JSON line, until {"op": "quit"} or the end of stdin:
//   {"op": "send", "body", "new_session"?}  → {event_id, session_id}; new_session first discards
//       the room's outbound Megolm session, so the room key travels anew (Olm)
//   {"op": "reply", "event_id", "timeout_ms"} → the first decrypted reply to it
//   {"op": "bot_devices"}                    → the bot's devices as seen now
//   {"op": "report"}                         → every bot event in the room, with
//       its sending device, decryption state and shield
// An answer with "error" means the request failed; the session goes on.

// The SDK logs through loglevel, which binds console.log/info/debug (stdout) when
// its loggers are built. Redirect before the SDK is imported so stdout carries only
// our result. (logger.setLevel on the root logger does not quieten the SDK: its
// child loggers set their own level, DEBUG.) The stderr log is useful on failure.
for (const name of ["log", "info", "debug", "trace"]) {
    console[name] = (...args) => console.error(...args);
}

const { createInterface } = await import("node:readline");
const sdk = await import("matrix-js-sdk");
const cryptoApi = await import("matrix-js-sdk/lib/crypto-api/index.js");

const { ClientEvent, EventType, MsgType, SyncState, createClient } = sdk;
const { EventShieldColour, EventShieldReason, OnlySignedDevicesIsolationMode } = cryptoApi;

const RESULT_PREFIX = "FKJS-RESULT ";
const result = { ok: false, steps: [] };
const started = Date.now();

function step(name, extra = {}) {
    result.steps.push({ name, ms: Date.now() - started, ...extra });
}

function emit(exitCode) {
    process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + "\n", () => process.exit(exitCode));
}

// stdin, one line at a time: the request first, then (session mode) the operations.
const stdinLines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();

async function nextLine() {
    for (;;) {
        const { value, done } = await stdinLines.next();
        if (done) return null;
        if (value.trim()) return value;
    }
}

/** Poll `check` (sync or async) until it returns something truthy, or fail with `what`. */
async function waitFor(what, check, deadline) {
    for (;;) {
        const value = await check();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

function shieldNames(info) {
    if (info === null) return { colour: null, reason: null };
    return {
        colour: EventShieldColour[info.shieldColour] ?? String(info.shieldColour),
        reason: info.shieldReason === null ? null : (EventShieldReason[info.shieldReason] ?? String(info.shieldReason)),
    };
}

function describe(event) {
    const content = event.getContent();
    return {
        event_id: event.getId(),
        sender: event.getSender(),
        type: event.getType(),
        wire_type: event.getWireType(),
        encrypted: event.isEncrypted(),
        decryption_failure: event.isDecryptionFailure(),
        decryption_failure_reason: event.decryptionFailureReason,
        msgtype: content.msgtype ?? null,
        body: content.body ?? null,
        in_reply_to: content["m.relates_to"]?.["m.in_reply_to"]?.event_id ?? null,
        // The Megolm event's claimed sender device and Curve25519 key (wire content).
        device_id: event.getWireContent().device_id ?? null,
        sender_key: event.getWireContent().sender_key ?? null,
    };
}

async function botDeviceStatus(crypto, botUserId) {
    const devices = await crypto.getUserDeviceInfo([botUserId], true);
    const found = {};
    for (const deviceId of devices.get(botUserId)?.keys() ?? []) {
        const status = await crypto.getDeviceVerificationStatus(botUserId, deviceId);
        found[deviceId] = {
            signed_by_owner: status?.signedByOwner ?? null,
            cross_signing_verified: status?.crossSigningVerified ?? null,
        };
    }
    return found;
}

/** An event as `describe` has it, plus whether it decrypted and the shield it gets. */
async function inspect(crypto, event) {
    if (event.isBeingDecrypted()) await event.getDecryptionPromise();
    const info = event.isDecryptionFailure() ? null : await crypto.getEncryptionInfoForEvent(event);
    const shield = shieldNames(info);
    return {
        ...describe(event),
        decrypted: event.isEncrypted() && !event.isDecryptionFailure(),
        shield_colour: shield.colour,
        shield_reason: shield.reason,
    };
}

let client = null;

async function main() {
    const input = JSON.parse((await nextLine()) ?? "{}");
    const deadline = started + (input.timeout_ms ?? 60000);
    const botUserId = input.bot_user_id;

    // 1. Log in with the password: a fresh device for this run.
    const login = await createClient({ baseUrl: input.homeserver }).loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: input.user_id },
        password: input.password,
        initial_device_display_name: "matrix-js-sdk strict client",
    });
    result.user_id = login.user_id;
    result.device_id = login.device_id;
    step("logged_in");

    client = createClient({
        baseUrl: input.homeserver,
        userId: login.user_id,
        deviceId: login.device_id,
        accessToken: login.access_token,
    });

    // 2. Rust crypto with an in-memory store (Node has no IndexedDB), strict isolation.
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    crypto.setDeviceIsolationMode(new OnlySignedDevicesIsolationMode());
    step("crypto_ready");

    const prepared = new Promise((resolve, reject) => {
        client.on(ClientEvent.Sync, (state, _prev, data) => {
            if (state === SyncState.Prepared) resolve();
            if (state === SyncState.Error) reject(data?.error ?? new Error("sync error"));
        });
    });
    await client.startClient({ initialSyncLimit: 20 });
    await prepared;
    step("synced");

    // 3. Our own identity: master + self-signing + user-signing keys, this device signed.
    await crypto.bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
            await makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: login.user_id },
                password: input.password,
            });
        },
    });
    const ownDevice = await crypto.getDeviceVerificationStatus(login.user_id, login.device_id);
    result.own_cross_signing_ready = await crypto.isCrossSigningReady();
    result.own_device_signed = ownDevice?.signedByOwner ?? false;
    if (!result.own_cross_signing_ready || !result.own_device_signed) {
        throw new Error("own cross-signing did not complete");
    }
    step("cross_signed");

    // 4. An encrypted room with the bot; the bot joins invitations by itself.
    const { room_id: roomId } = await client.createRoom({
        name: "js-sdk strict client",
        preset: "private_chat",
        invite: [botUserId],
        initial_state: [
            {
                type: "m.room.encryption",
                state_key: "",
                content: { algorithm: "m.megolm.v1.aes-sha2" },
            },
        ],
    });
    result.room_id = roomId;
    step("room_created");

    // Trap: the client must see the bot's join in its own room state before the first
    // send, or the room key goes to our own devices only.
    const room = await waitFor(
        "the bot joining the room",
        () => {
            const r = client.getRoom(roomId);
            return r?.getMember(botUserId)?.membership === "join" ? r : null;
        },
        deadline,
    );
    step("bot_joined");

    // The bot's devices as this client sees them, before anything is encrypted to them.
    result.bot_devices = await botDeviceStatus(crypto, botUserId);
    const botIdentity = await crypto.getUserVerificationStatus(botUserId);
    result.bot_identity_known = botIdentity.known;
    result.bot_identity_verified = botIdentity.isCrossSigningVerified();

    if (input.session) {
        await session(crypto, room, botUserId);
        result.ok = true;
        return;
    }

    // 5. The command, encrypted by the SDK (the room is encrypted).
    const sent = await client.sendMessage(roomId, { msgtype: MsgType.Text, body: input.command });
    result.sent_event_id = sent.event_id;
    step("sent");

    // 6. The bot's reply: an m.notice in reply to our event, decrypted.
    const fromBot = () =>
        room
            .getLiveTimeline()
            .getEvents()
            .filter((e) => e.getSender() === botUserId && e.getWireType() !== EventType.RoomMember);
    let reply = null;
    try {
        reply = await waitFor(
            "the bot's decrypted reply",
            async () => {
                for (const event of fromBot()) {
                    if (event.isBeingDecrypted()) await event.getDecryptionPromise();
                    const content = event.getContent();
                    if (
                        event.getType() === EventType.RoomMessage &&
                        content["m.relates_to"]?.["m.in_reply_to"]?.event_id === sent.event_id
                    ) {
                        return event;
                    }
                }
                return null;
            },
            deadline,
        );
    } finally {
        // Whatever the bot sent, as this client saw it (decryption failures included).
        result.bot_events = fromBot().map(describe);
    }
    result.reply = describe(reply);
    result.reply_body = reply.getContent().body ?? null;
    result.reply_msgtype = reply.getContent().msgtype ?? null;
    result.reply_decrypted = reply.isEncrypted() && !reply.isDecryptionFailure();
    const info = await crypto.getEncryptionInfoForEvent(reply);
    const shield = shieldNames(info);
    result.shield_colour = shield.colour;
    result.shield_reason = shield.reason;
    step("reply_decrypted");
    result.ok = true;
}

/** Session mode: one request per stdin line, one answer line each (see the top). */
async function session(crypto, room, botUserId) {
    const roomId = room.roomId;
    const fromBot = () =>
        room
            .getLiveTimeline()
            .getEvents()
            .filter((e) => e.getSender() === botUserId && e.getWireType() !== EventType.RoomMember);
    const answer = (body) => process.stdout.write("FKJS-ANSWER " + JSON.stringify(body) + "\n");
    step("session");
    process.stdout.write("FKJS-READY " + JSON.stringify(result) + "\n");
    for (;;) {
        const line = await nextLine();
        if (line === null) return;
        const request = JSON.parse(line);
        try {
            if (request.op === "quit") {
                answer({ op: "quit" });
                return;
            } else if (request.op === "send") {
                if (request.new_session) await crypto.forceDiscardSession(roomId);
                const sent = await client.sendMessage(roomId, { msgtype: MsgType.Text, body: request.body });
                // The Megolm session it went out under, as the server has it.
                const raw = await client.fetchRoomEvent(roomId, sent.event_id);
                answer({ op: "send", event_id: sent.event_id, session_id: raw.content?.session_id ?? null });
            } else if (request.op === "reply") {
                const deadline = Date.now() + (request.timeout_ms ?? 60000);
                const reply = await waitFor(
                    `the bot's decrypted reply to ${request.event_id}`,
                    async () => {
                        for (const event of fromBot()) {
                            if (event.isBeingDecrypted()) await event.getDecryptionPromise();
                            const relates = event.getContent()["m.relates_to"];
                            if (
                                event.getType() === EventType.RoomMessage &&
                                relates?.["m.in_reply_to"]?.event_id === request.event_id
                            ) {
                                return event;
                            }
                        }
                        return null;
                    },
                    deadline,
                );
                answer({ op: "reply", reply: await inspect(crypto, reply) });
            } else if (request.op === "bot_devices") {
                answer({ op: "bot_devices", bot_devices: await botDeviceStatus(crypto, botUserId) });
            } else if (request.op === "report") {
                const events = [];
                for (const event of fromBot()) events.push(await inspect(crypto, event));
                answer({ op: "report", bot_events: events });
            } else {
                answer({ op: request.op, error: `unknown op ${request.op}` });
            }
        } catch (err) {
            answer({ op: request.op, error: String(err?.stack ?? err) });
        }
    }
}

const watchdog = setTimeout(() => {
    result.error = "watchdog: the client did not finish in time";
    emit(1);
}, 10 * 60 * 1000);
watchdog.unref();

try {
    await main();
    client?.stopClient();
    emit(0);
} catch (err) {
    result.error = String(err?.stack ?? err);
    client?.stopClient();
    emit(1);
}
