/* Double-precision references of the convolution-like layers, written as plainly as possible:
 * naive loops over NHWC tensors with the library's weight layouts (convolution OIHW,
 * transposed convolution IOHW, linear OI, bias O). Each backward writes (overwrites) the
 * gradients it is given; any of dx, dw, db may be NULL. Proven by central differences in
 * tests/test_ref_conv.c; the oneDNN layers are compared against them in tests/test_conv.c. */
#ifndef SPCNN_REF_CONV_H
#define SPCNN_REF_CONV_H

/* Shape of a convolution or transposed convolution: input n×h×w×c_in, kernel kh×kw,
 * strides sh, sw, and asymmetric zero padding (top, bottom, left, right). For a transposed
 * convolution the padding is cropped from the full output instead. */
typedef struct ref_conv_shape {
    int n, h, w, c_in, c_out, kh, kw, sh, sw, pt, pb, pl, pr;
} ref_conv_shape;

/* Output size: convolution (h + pt + pb - kh) / sh + 1; transposed (h - 1) * sh + kh - pt - pb. */
void ref_conv_out_size(const ref_conv_shape *s, int *oh, int *ow);
void ref_deconv_out_size(const ref_conv_shape *s, int *oh, int *ow);

/* y[n,oh,ow,o] = b[o] + sum x[n, oh*sh + i - pt, ow*sw + j - pl, c] * w[o,c,i,j] (OIHW). */
void ref_conv_forward(const ref_conv_shape *s, const double *x, const double *w, const double *b,
                      double *y);
void ref_conv_backward(const ref_conv_shape *s, const double *x, const double *w,
                       const double *dy, double *dx, double *dw, double *db);

/* y[n, ih*sh + i - pt, iw*sw + j - pl, o] += x[n,ih,iw,c] * w[c,o,i,j] (IOHW), plus b[o]. */
void ref_deconv_forward(const ref_conv_shape *s, const double *x, const double *w,
                        const double *b, double *y);
void ref_deconv_backward(const ref_conv_shape *s, const double *x, const double *w,
                         const double *dy, double *dx, double *dw, double *db);

/* PixelCNN++ (Salimans et al. 2017, pixel_cnn_pp/nn.py) written the way it is written there:
 * zero-pad the input explicitly, then a 'VALID' convolution; or a full 'VALID' transposed
 * convolution to (h*s + kh - 1) × (w*s + kw - 1) followed by the causal crop. The output
 * sizes are returned through oh, ow. */
void ref_down_shifted_conv(int n, int h, int w, int c_in, int c_out, int kh, int kw, int stride,
                           const double *x, const double *wt, const double *b, double *y,
                           int *oh, int *ow);
void ref_down_right_shifted_conv(int n, int h, int w, int c_in, int c_out, int kh, int kw,
                                 int stride, const double *x, const double *wt, const double *b,
                                 double *y, int *oh, int *ow);
void ref_down_shifted_deconv(int n, int h, int w, int c_in, int c_out, int kh, int kw, int stride,
                             const double *x, const double *wt, const double *b, double *y,
                             int *oh, int *ow);
void ref_down_right_shifted_deconv(int n, int h, int w, int c_in, int c_out, int kh, int kw,
                                   int stride, const double *x, const double *wt,
                                   const double *b, double *y, int *oh, int *ow);

/* down_shift: output row 0 is zero, row r is input row r-1. right_shift: the same on columns. */
void ref_down_shift_forward(int n, int h, int w, int c, const double *x, double *y);
void ref_down_shift_backward(int n, int h, int w, int c, const double *dy, double *dx);
void ref_right_shift_forward(int n, int h, int w, int c, const double *x, double *y);
void ref_right_shift_backward(int n, int h, int w, int c, const double *dy, double *dx);

/* y[n,o] = b[o] + sum_i x[n,i] w[o,i] (OI). */
void ref_linear_forward(int n, int in, int out, const double *x, const double *w, const double *b,
                        double *y);
void ref_linear_backward(int n, int in, int out, const double *x, const double *w,
                         const double *dy, double *dx, double *dw, double *db);

/* Bilinear resampling ih×iw -> oh×ow, half-pixel centres (align_corners = False): output pixel
 * o samples the input at (o + 0.5) * in / out - 0.5, indices clamped to the edges. */
void ref_resample_linear_forward(int n, int c, int ih, int iw, int oh, int ow, const double *x,
                                 double *y);

#endif
