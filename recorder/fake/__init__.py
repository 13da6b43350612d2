"""Realistic fake Realtime sessions, made by our own code (ids, audio, timing), GA or beta.

    from recorder.fake.scenarios import SCENARIOS, build, long_session
    frames = build("barge_in", protocol="ga", seed=0)     # list[Frame], both directions
    for frame in long_session(60): ...                     # an hour, generated lazily

    from recorder.fake.server import FakeUpstream           # aiohttp fake upstream
    async with FakeUpstream("function_call") as upstream:   # ws://127.0.0.1:<port>/v1/realtime
        ...
    from recorder.fake.client import play_client            # the client side, against any URL
    await play_client(url, "function_call", protocol="ga", pace=0)

    python -m recorder.fake.server --scenario barge_in --port 9000

    from recorder.fake.live import build_live               # Live (GPT-Live) sessions
    from recorder.fake.live_server import FakeLiveUpstream, play_live_client
    python -m recorder.fake.live_server --scenario tool_call --port 9001

Modules: ids (id shapes), synth (tones, chirps, noise, speech-like babble), dialect (GA and
beta event shapes), script (one session on one clock), scenarios (the named stories); live and
live_server (the same for Live: its script and stories, its fake upstream and client).
"""
