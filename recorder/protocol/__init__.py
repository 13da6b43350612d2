"""Protocol facts of the Realtime and Live APIs, one home each (CATALOG.md, LIVE.md: sources).

paths        the WebSocket paths a Realtime or Live client connects to, and which one goes
             upstream
live         what a recorder reads of a Live session's first frames (session.start/.started)
close        close codes an endpoint may send, the clean ones, the 123-byte reason limit
error_event  the `error` event rtrec itself sends a client
b64          what counts as base64 audio rtrec can store as bytes and give back unchanged
names        the event names GA renamed from beta (response.output_audio.delta, ...)
audio_fields which events carry base64 audio, and in which field (audio / delta)

Everything else (proxy, serve, cassette, fake, store, export) imports from here.
"""
