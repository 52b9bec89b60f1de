#!/bin/sh
# A ptxas that crashes: sattn-compile must report an internal error (2).
kill -SEGV $$
