/* The float VAE losses (lib/nn/vae_loss.h) against the double references, forward and
 * backward, on an MNIST-like shape and an odd one; extreme logits; thread-count independence. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "nn/vae_loss.h"
#include "ref_elem.h"
#include "testutil.h"

#define LIMIT 1e-12

/* Targets p/255 for random bytes, as the VAE sees an image. */
static void fill_targets(tu_rng *r, float *t, double *td, size_t n)
{
    for (size_t i = 0; i < n; i++)
        t[i] = (float)(tu_next(r) % 256) / 255.0f;
    tu_f2d(t, td, n);
}

START_TEST(test_bce)
{
    static const size_t shapes[][2] = {{4, 784}, {3, 77}};
    tu_rng r = {1};
    for (int s = 0; s < 2; s++) {
        size_t n = shapes[s][0], d = shapes[s][1], m = n * d;
        float *l = tu_alloc_f(m), *t = tu_alloc_f(m), *loss = tu_alloc_f(n), *dloss = tu_alloc_f(n), *dl = tu_alloc_f(m);
        double *ld = tu_alloc_d(m), *td = tu_alloc_d(m), *lossd = tu_alloc_d(n), *dlossd = tu_alloc_d(n),
               *dld = tu_alloc_d(m);
        tu_fill_pair(&r, l, ld, m, -8, 8);
        fill_targets(&r, t, td, m);
        tu_fill_pair(&r, dloss, dlossd, n, -1, 1);
        spcnn__bce_logits_forward(l, t, loss, n, d);
        ref_bce_logits_forward(ld, td, lossd, n, d);
        tu_check_nmse("bernoulli cross-entropy forward", loss, lossd, n, LIMIT);
        spcnn__bce_logits_backward(l, t, dloss, dl, n, d);
        ref_bce_logits_backward(ld, td, dlossd, dld, n, d);
        tu_check_nmse("bernoulli cross-entropy backward", dl, dld, m, LIMIT);
        free(l), free(t), free(loss), free(dloss), free(dl);
        free(ld), free(td), free(lossd), free(dlossd), free(dld);
    }
    /* Extreme logits stay finite and exact: softplus(100) − 100 = 0, softplus(−100) + 100. */
    float l[4] = {100.0f, -100.0f, 100.0f, -100.0f}, t[4] = {1, 1, 0, 0}, loss[4], one = 1;
    float g[4];
    for (int i = 0; i < 4; i++) {
        spcnn__bce_logits_forward(l + i, t + i, loss + i, 1, 1);
        spcnn__bce_logits_backward(l + i, t + i, &one, g + i, 1, 1);
        ck_assert(isfinite(loss[i]) && isfinite(g[i]));
    }
    ck_assert(fabsf(loss[0]) < 1e-30f && fabsf(loss[1] - 100) < 1e-4f);
    ck_assert(fabsf(loss[2] - 100) < 1e-4f && fabsf(loss[3]) < 1e-30f);
    ck_assert(g[0] == 0.0f && g[1] == -1.0f && g[2] == 1.0f && fabsf(g[3]) < 1e-30f);
}
END_TEST

START_TEST(test_kl_and_reparam)
{
    static const size_t shapes[][2] = {{5, 60}, {3, 7}};
    tu_rng r = {2};
    for (int s = 0; s < 2; s++) {
        size_t n = shapes[s][0], l = shapes[s][1], m = n * l;
        float *mu = tu_alloc_f(m), *lv = tu_alloc_f(m), *eps = tu_alloc_f(m), *kl = tu_alloc_f(n), *dkl = tu_alloc_f(n),
              *dmu = tu_alloc_f(m), *dlv = tu_alloc_f(m), *z = tu_alloc_f(m), *dz = tu_alloc_f(m);
        double *mud = tu_alloc_d(m), *lvd = tu_alloc_d(m), *epsd = tu_alloc_d(m), *kld = tu_alloc_d(n), *dkld = tu_alloc_d(n),
               *dmud = tu_alloc_d(m), *dlvd = tu_alloc_d(m), *zd = tu_alloc_d(m), *dzd = tu_alloc_d(m);
        tu_fill_pair(&r, mu, mud, m, -3, 3);
        tu_fill_pair(&r, lv, lvd, m, -6, 3);
        tu_fill_pair(&r, eps, epsd, m, -3, 3);
        tu_fill_pair(&r, dkl, dkld, n, -1, 1);
        tu_fill_pair(&r, dz, dzd, m, -1, 1);
        spcnn__kl_forward(mu, lv, kl, n, l);
        ref_kl_forward(mud, lvd, kld, n, l);
        tu_check_nmse("KL forward", kl, kld, n, LIMIT);
        spcnn__kl_backward(mu, lv, dkl, dmu, dlv, n, l);
        ref_kl_backward(mud, lvd, dkld, dmud, dlvd, n, l);
        tu_check_nmse("KL backward dmu", dmu, dmud, m, LIMIT);
        tu_check_nmse("KL backward dlogvar", dlv, dlvd, m, LIMIT);

        spcnn__reparam_forward(mu, lv, eps, z, m);
        ref_reparam_forward(mud, lvd, epsd, zd, m);
        tu_check_nmse("reparameterisation forward", z, zd, m, LIMIT);
        spcnn__reparam_backward(lv, eps, dz, dmu, dlv, m);
        ref_reparam_backward(lvd, epsd, dzd, dmud, dlvd, m);
        tu_check_nmse("reparameterisation backward dmu", dmu, dmud, m, LIMIT);
        tu_check_nmse("reparameterisation backward dlogvar", dlv, dlvd, m, LIMIT);
        /* dmu may alias dz */
        float *alias = tu_alloc_f(m);
        memcpy(alias, dz, m * sizeof *dz);
        spcnn__reparam_backward(lv, eps, alias, alias, dlv, m);
        ck_assert(memcmp(alias, dz, m * sizeof *dz) == 0);
        tu_check_nmse("reparameterisation backward dlogvar (aliased)", dlv, dlvd, m, LIMIT);
        free(alias);
        free(mu), free(lv), free(eps), free(kl), free(dkl), free(dmu), free(dlv), free(z),
            free(dz);
        free(mud), free(lvd), free(epsd), free(kld), free(dkld), free(dmud), free(dlvd),
            free(zd), free(dzd);
    }
    /* The prior itself has zero KL. */
    float zero[8] = {0}, kl;
    spcnn__kl_forward(zero, zero, &kl, 1, 8);
    ck_assert(kl == 0.0f);
}
END_TEST

START_TEST(test_thread_count_independence)
{
    const size_t n = 128, d = 784, m = n * d;
    float *l = tu_alloc_f(m), *t = tu_alloc_f(m), *dloss = tu_alloc_f(n), *loss[2], *dl[2];
    double *td = tu_alloc_d(m);
    tu_rng r = {3};
    tu_fill_f(&r, l, m, -6, 6);
    fill_targets(&r, t, td, m);
    tu_fill_f(&r, dloss, n, -1, 1);
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        ck_assert_int_eq(omp_get_max_threads(), k + 1);
        loss[k] = tu_alloc_f(n);
        dl[k] = tu_alloc_f(m);
        spcnn__bce_logits_forward(l, t, loss[k], n, d);
        spcnn__bce_logits_backward(l, t, dloss, dl[k], n, d);
    }
    int same = memcmp(loss[0], loss[1], n * sizeof(float)) == 0 &&
               memcmp(dl[0], dl[1], m * sizeof(float)) == 0;
    tu_report("VAE losses: 1 vs 2 threads differ", same ? 0 : 1, 0);
    ck_assert(same);
    for (int k = 0; k < 2; k++)
        free(loss[k]), free(dl[k]);
    free(l), free(t), free(dloss), free(td);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vae_loss");
    TCase *tc = tcase_create("vae_loss");
    tcase_add_test(tc, test_bce);
    tcase_add_test(tc, test_kl_and_reparam);
    tcase_add_test(tc, test_thread_count_independence);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
