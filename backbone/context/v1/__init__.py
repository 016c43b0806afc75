"""Generated from schemas/proto/backbone/context/v1/context.proto by scripts/gen_protos.sh.

Do not edit the ``*_pb2*`` modules; change the .proto and regenerate.
"""
