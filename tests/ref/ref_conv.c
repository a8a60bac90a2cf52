#include "ref_conv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* NHWC index. */
static size_t at(int n, int h, int w, int c, int H, int W, int C)
{
    return (((size_t)n * H + h) * W + w) * C + c;
}

/* OIHW index (also used for IOHW with the roles of the first two swapped). */
static size_t wat(int a, int b, int i, int j, int B, int KH, int KW)
{
    return (((size_t)a * B + b) * KH + i) * KW + j;
}

void ref_conv_out_size(const ref_conv_shape *s, int *oh, int *ow)
{
    *oh = (s->h + s->pt + s->pb - s->kh) / s->sh + 1;
    *ow = (s->w + s->pl + s->pr - s->kw) / s->sw + 1;
}

void ref_deconv_out_size(const ref_conv_shape *s, int *oh, int *ow)
{
    *oh = (s->h - 1) * s->sh + s->kh - s->pt - s->pb;
    *ow = (s->w - 1) * s->sw + s->kw - s->pl - s->pr;
}

void ref_conv_forward(const ref_conv_shape *s, const double *x, const double *w, const double *b,
                      double *y)
{
    int OH, OW;
    ref_conv_out_size(s, &OH, &OW);
    for (int n = 0; n < s->n; n++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                for (int o = 0; o < s->c_out; o++) {
                    double acc = b ? b[o] : 0.0;
                    for (int i = 0; i < s->kh; i++)
                        for (int j = 0; j < s->kw; j++) {
                            int ih = oh * s->sh + i - s->pt, iw = ow * s->sw + j - s->pl;
                            if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w)
                                continue;
                            for (int c = 0; c < s->c_in; c++)
                                acc += x[at(n, ih, iw, c, s->h, s->w, s->c_in)] *
                                       w[wat(o, c, i, j, s->c_in, s->kh, s->kw)];
                        }
                    y[at(n, oh, ow, o, OH, OW, s->c_out)] = acc;
                }
}

void ref_conv_backward(const ref_conv_shape *s, const double *x, const double *w,
                       const double *dy, double *dx, double *dw, double *db)
{
    int OH, OW;
    ref_conv_out_size(s, &OH, &OW);
    if (dx)
        memset(dx, 0, (size_t)s->n * s->h * s->w * s->c_in * sizeof *dx);
    if (dw)
        memset(dw, 0, (size_t)s->c_out * s->c_in * s->kh * s->kw * sizeof *dw);
    if (db)
        memset(db, 0, (size_t)s->c_out * sizeof *db);
    for (int n = 0; n < s->n; n++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                for (int o = 0; o < s->c_out; o++) {
                    double g = dy[at(n, oh, ow, o, OH, OW, s->c_out)];
                    if (db)
                        db[o] += g;
                    for (int i = 0; i < s->kh; i++)
                        for (int j = 0; j < s->kw; j++) {
                            int ih = oh * s->sh + i - s->pt, iw = ow * s->sw + j - s->pl;
                            if (ih < 0 || ih >= s->h || iw < 0 || iw >= s->w)
                                continue;
                            for (int c = 0; c < s->c_in; c++) {
                                size_t xi = at(n, ih, iw, c, s->h, s->w, s->c_in);
                                size_t wi = wat(o, c, i, j, s->c_in, s->kh, s->kw);
                                if (dx)
                                    dx[xi] += g * w[wi];
                                if (dw)
                                    dw[wi] += g * x[xi];
                            }
                        }
                }
}

void ref_deconv_forward(const ref_conv_shape *s, const double *x, const double *w,
                        const double *b, double *y)
{
    int OH, OW;
    ref_deconv_out_size(s, &OH, &OW);
    for (int n = 0; n < s->n; n++)
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++)
                for (int o = 0; o < s->c_out; o++)
                    y[at(n, oh, ow, o, OH, OW, s->c_out)] = b ? b[o] : 0.0;
    for (int n = 0; n < s->n; n++)
        for (int ih = 0; ih < s->h; ih++)
            for (int iw = 0; iw < s->w; iw++)
                for (int i = 0; i < s->kh; i++)
                    for (int j = 0; j < s->kw; j++) {
                        int oh = ih * s->sh + i - s->pt, ow = iw * s->sw + j - s->pl;
                        if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
                            continue;
                        for (int c = 0; c < s->c_in; c++)
                            for (int o = 0; o < s->c_out; o++)
                                y[at(n, oh, ow, o, OH, OW, s->c_out)] +=
                                    x[at(n, ih, iw, c, s->h, s->w, s->c_in)] *
                                    w[wat(c, o, i, j, s->c_out, s->kh, s->kw)];
                    }
}

void ref_deconv_backward(const ref_conv_shape *s, const double *x, const double *w,
                         const double *dy, double *dx, double *dw, double *db)
{
    int OH, OW;
    ref_deconv_out_size(s, &OH, &OW);
    if (dx)
        memset(dx, 0, (size_t)s->n * s->h * s->w * s->c_in * sizeof *dx);
    if (dw)
        memset(dw, 0, (size_t)s->c_out * s->c_in * s->kh * s->kw * sizeof *dw);
    if (db) {
        memset(db, 0, (size_t)s->c_out * sizeof *db);
        for (int n = 0; n < s->n; n++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++)
                    for (int o = 0; o < s->c_out; o++)
                        db[o] += dy[at(n, oh, ow, o, OH, OW, s->c_out)];
    }
    for (int n = 0; n < s->n; n++)
        for (int ih = 0; ih < s->h; ih++)
            for (int iw = 0; iw < s->w; iw++)
                for (int i = 0; i < s->kh; i++)
                    for (int j = 0; j < s->kw; j++) {
                        int oh = ih * s->sh + i - s->pt, ow = iw * s->sw + j - s->pl;
                        if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
                            continue;
                        for (int c = 0; c < s->c_in; c++)
                            for (int o = 0; o < s->c_out; o++) {
                                double g = dy[at(n, oh, ow, o, OH, OW, s->c_out)];
                                size_t xi = at(n, ih, iw, c, s->h, s->w, s->c_in);
                                size_t wi = wat(c, o, i, j, s->c_out, s->kh, s->kw);
                                if (dx)
                                    dx[xi] += g * w[wi];
                                if (dw)
                                    dw[wi] += g * x[xi];
                            }
                    }
}

/* Zero-pad an NHWC tensor by (top, bottom, left, right); returns a malloc'd buffer. */
static double *pad(int n, int h, int w, int c, int pt, int pb, int pl, int pr, const double *x)
{
    int H = h + pt + pb, W = w + pl + pr;
    double *p = calloc((size_t)n * H * W * c, sizeof *p);
    if (!p)
        abort();
    for (int b = 0; b < n; b++)
        for (int r = 0; r < h; r++)
            for (int q = 0; q < w; q++)
                for (int k = 0; k < c; k++)
                    p[at(b, r + pt, q + pl, k, H, W, c)] = x[at(b, r, q, k, h, w, c)];
    return p;
}

static void padded_valid_conv(int n, int h, int w, int c_in, int c_out, int kh, int kw,
                              int stride, int pt, int pl, int pr, const double *x,
                              const double *wt, const double *b, double *y, int *oh, int *ow)
{
    double *p = pad(n, h, w, c_in, pt, 0, pl, pr, x);
    ref_conv_shape s = {n, h + pt, w + pl + pr, c_in, c_out, kh, kw, stride, stride, 0, 0, 0, 0};
    ref_conv_out_size(&s, oh, ow);
    ref_conv_forward(&s, p, wt, b, y);
    free(p);
}

void ref_down_shifted_conv(int n, int h, int w, int c_in, int c_out, int kh, int kw, int stride,
                           const double *x, const double *wt, const double *b, double *y,
                           int *oh, int *ow)
{
    padded_valid_conv(n, h, w, c_in, c_out, kh, kw, stride, kh - 1, (kw - 1) / 2, (kw - 1) / 2,
                      x, wt, b, y, oh, ow);
}

void ref_down_right_shifted_conv(int n, int h, int w, int c_in, int c_out, int kh, int kw,
                                 int stride, const double *x, const double *wt, const double *b,
                                 double *y, int *oh, int *ow)
{
    padded_valid_conv(n, h, w, c_in, c_out, kh, kw, stride, kh - 1, kw - 1, 0, x, wt, b, y, oh,
                      ow);
}

/* The full 'VALID' transposed convolution at TensorFlow's size (h*s + kh - 1) × (w*s + kw - 1):
 * the natural full output ((h-1)*s + kh rows) followed by s-1 rows and columns that receive no
 * input and hold only the bias. Then crop rows [0, H - kh + 1) and columns [c0, c1). */
static void full_deconv_crop(int n, int h, int w, int c_in, int c_out, int kh, int kw, int stride,
                             int right_shifted, const double *x, const double *wt,
                             const double *b, double *y, int *oh, int *ow)
{
    ref_conv_shape s = {n, h, w, c_in, c_out, kh, kw, stride, stride, 0, 0, 0, 0};
    int fh, fw;
    ref_deconv_out_size(&s, &fh, &fw);
    double *full = malloc((size_t)n * fh * fw * c_out * sizeof *full);
    if (!full)
        abort();
    ref_deconv_forward(&s, x, wt, b, full);
    int H = h * stride + kh - 1, W = w * stride + kw - 1;
    int r1 = H - kh + 1;
    int c0 = right_shifted ? 0 : (kw - 1) / 2;
    int c1 = right_shifted ? W - kw + 1 : W - (kw - 1) / 2;
    *oh = r1;
    *ow = c1 - c0;
    for (int q = 0; q < n; q++)
        for (int r = 0; r < r1; r++)
            for (int c = c0; c < c1; c++)
                for (int o = 0; o < c_out; o++) {
                    double v = b ? b[o] : 0.0; /* the rows and columns past the natural output */
                    if (r < fh && c < fw)
                        v = full[at(q, r, c, o, fh, fw, c_out)];
                    y[at(q, r, c - c0, o, *oh, *ow, c_out)] = v;
                }
    free(full);
}

void ref_down_shifted_deconv(int n, int h, int w, int c_in, int c_out, int kh, int kw, int stride,
                             const double *x, const double *wt, const double *b, double *y,
                             int *oh, int *ow)
{
    full_deconv_crop(n, h, w, c_in, c_out, kh, kw, stride, 0, x, wt, b, y, oh, ow);
}

void ref_down_right_shifted_deconv(int n, int h, int w, int c_in, int c_out, int kh, int kw,
                                   int stride, const double *x, const double *wt,
                                   const double *b, double *y, int *oh, int *ow)
{
    full_deconv_crop(n, h, w, c_in, c_out, kh, kw, stride, 1, x, wt, b, y, oh, ow);
}

void ref_down_shift_forward(int n, int h, int w, int c, const double *x, double *y)
{
    for (int b = 0; b < n; b++)
        for (int r = 0; r < h; r++)
            for (int q = 0; q < w; q++)
                for (int k = 0; k < c; k++)
                    y[at(b, r, q, k, h, w, c)] = r == 0 ? 0.0 : x[at(b, r - 1, q, k, h, w, c)];
}

void ref_down_shift_backward(int n, int h, int w, int c, const double *dy, double *dx)
{
    for (int b = 0; b < n; b++)
        for (int r = 0; r < h; r++)
            for (int q = 0; q < w; q++)
                for (int k = 0; k < c; k++)
                    dx[at(b, r, q, k, h, w, c)] =
                        r == h - 1 ? 0.0 : dy[at(b, r + 1, q, k, h, w, c)];
}

void ref_right_shift_forward(int n, int h, int w, int c, const double *x, double *y)
{
    for (int b = 0; b < n; b++)
        for (int r = 0; r < h; r++)
            for (int q = 0; q < w; q++)
                for (int k = 0; k < c; k++)
                    y[at(b, r, q, k, h, w, c)] = q == 0 ? 0.0 : x[at(b, r, q - 1, k, h, w, c)];
}

void ref_right_shift_backward(int n, int h, int w, int c, const double *dy, double *dx)
{
    for (int b = 0; b < n; b++)
        for (int r = 0; r < h; r++)
            for (int q = 0; q < w; q++)
                for (int k = 0; k < c; k++)
                    dx[at(b, r, q, k, h, w, c)] =
                        q == w - 1 ? 0.0 : dy[at(b, r, q + 1, k, h, w, c)];
}

void ref_linear_forward(int n, int in, int out, const double *x, const double *w, const double *b,
                        double *y)
{
    for (int q = 0; q < n; q++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++)
                acc += x[(size_t)q * in + i] * w[(size_t)o * in + i];
            y[(size_t)q * out + o] = acc;
        }
}

void ref_linear_backward(int n, int in, int out, const double *x, const double *w,
                         const double *dy, double *dx, double *dw, double *db)
{
    if (dx)
        memset(dx, 0, (size_t)n * in * sizeof *dx);
    if (dw)
        memset(dw, 0, (size_t)out * in * sizeof *dw);
    if (db)
        memset(db, 0, (size_t)out * sizeof *db);
    for (int q = 0; q < n; q++)
        for (int o = 0; o < out; o++) {
            double g = dy[(size_t)q * out + o];
            if (db)
                db[o] += g;
            for (int i = 0; i < in; i++) {
                if (dx)
                    dx[(size_t)q * in + i] += g * w[(size_t)o * in + i];
                if (dw)
                    dw[(size_t)o * in + i] += g * x[(size_t)q * in + i];
            }
        }
}

/* Source coordinate of output index o, the two neighbours (clamped) and the weight of the
 * second one. */
static void lerp_coeffs(int o, int in, int out, int *i0, int *i1, double *t)
{
    double s = (o + 0.5) * in / out - 0.5;
    double f = floor(s);
    *t = s - f;
    int a = (int)f, b = a + 1;
    *i0 = a < 0 ? 0 : (a > in - 1 ? in - 1 : a);
    *i1 = b < 0 ? 0 : (b > in - 1 ? in - 1 : b);
}

void ref_resample_linear_forward(int n, int c, int ih, int iw, int oh, int ow, const double *x,
                                 double *y)
{
    for (int q = 0; q < n; q++)
        for (int r = 0; r < oh; r++)
            for (int s = 0; s < ow; s++) {
                int r0, r1, s0, s1;
                double tr, ts;
                lerp_coeffs(r, ih, oh, &r0, &r1, &tr);
                lerp_coeffs(s, iw, ow, &s0, &s1, &ts);
                for (int k = 0; k < c; k++)
                    y[at(q, r, s, k, oh, ow, c)] =
                        (1 - tr) * (1 - ts) * x[at(q, r0, s0, k, ih, iw, c)] +
                        (1 - tr) * ts * x[at(q, r0, s1, k, ih, iw, c)] +
                        tr * (1 - ts) * x[at(q, r1, s0, k, ih, iw, c)] +
                        tr * ts * x[at(q, r1, s1, k, ih, iw, c)];
            }
}
