"""Realistic fake Realtime sessions: scripted scenarios, a fake upstream server, a scripted client.

    from recorder.fake.scenarios import build, long_session, SCENARIOS
"""
