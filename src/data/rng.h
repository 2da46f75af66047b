/* Counter-based random numbers for the data pipeline: every draw is a pure
 * function of a key, so which thread prepares an example never changes it. */
#ifndef QFD_DATA_RNG_H
#define QFD_DATA_RNG_H

#include <stdint.h>

/* splitmix64's output function: a bijection with good avalanche, so keys
 * that differ in one bit give unrelated streams. */
static inline uint64_t qfd_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

typedef struct qfd_rng {
    uint64_t s;
} qfd_rng;

static inline qfd_rng qfd_rng_key(uint64_t seed, uint64_t stream, uint64_t epoch, uint64_t pos)
{
    qfd_rng r = {qfd_mix64(qfd_mix64(qfd_mix64(seed ^ stream) + epoch) + pos)};
    return r;
}

static inline uint64_t qfd_rng_next(qfd_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return qfd_mix64(r->s);
}

/* Uniform in [0, n) without modulo bias: reject the short top range. */
static inline uint64_t qfd_rng_below(qfd_rng *r, uint64_t n)
{
    uint64_t lim = (0 - n) % n, v;
    do
        v = qfd_rng_next(r);
    while (v < lim);
    return v % n;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double qfd_rng_unit(qfd_rng *r)
{
    return (double)(qfd_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
