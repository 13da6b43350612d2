"""Protocol facts of the Realtime API, one home each (CATALOG.md is the source they come from).

paths        the WebSocket paths a Realtime client connects to, and which one goes upstream
close        close codes an endpoint may send, the clean ones, the 123-byte reason limit
error_event  the `error` event rtrec itself sends a client
b64          what counts as base64 audio rtrec can store as bytes and give back unchanged
names        the event names GA renamed from beta (response.output_audio.delta, ...)
audio_fields which events carry base64 audio, and in which field (audio / delta)

Everything else (proxy, serve, cassette, fake, store, export) imports from here.
"""
