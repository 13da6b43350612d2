"""The Live API (GPT-Live, LIVE.md): its events as typed values, and decoding frames into them.

events     one msgspec Struct per Live client and server event, and the nested Responses
           events a `response.event` carries
resources  the nested resources those events carry (session, delegation, usage, ...)
decode     frame bytes + direction -> a typed Live event, or an UnknownEvent; never raises
"""
