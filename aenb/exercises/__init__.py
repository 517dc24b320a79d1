"""Exercises at the end of each notebook, checked with numbers.

Each ``check_<name>(answer, ...)`` runs the reader's function (or takes their value) on real
MNIST / Fashion-MNIST data and prints one verdict: correct, not yet (what was expected,
what came, and a hint), or "not answered yet" while the placeholder is still there. It
also returns True or False. Every check takes a few seconds at most on one CPU core.

Reference solutions live in ``solutions/NN_*.py`` at the root of the repository.

========  ================================  =================================
notebook  check                             the reader writes
========  ================================  =================================
01        check_per_image_mse               my_per_image_mse(images, recon)
01        check_train_step                  my_train_step(model, images, optimizer)
01        check_pca_reconstruct             my_pca_reconstruct(train_images, images, k)
02        check_choose_k                    my_choose_k(train_images, train_labels, val_images,
                                            val_labels, candidates)
02        check_equal_budget                my_equal_budget(val_a, images_a, val_b, images_b)
02        check_find_code                   my_find_code(decode, targets, latent_dim)
03        check_kl_divergence               my_kl_divergence(mu, logvar)
03        check_reparameterize              my_reparameterize(mu, logvar, eps)
03        check_vae_loss                    my_vae_loss(x_hat, x, mu, logvar)
03        check_beta_kl_prediction          predicted_kl (a number)
04        check_conv_output_size            my_conv_output_size(size, kernel, stride, padding)
04        check_sigmoid_gradient            my_sigmoid_mse_grad(a, x)
04        check_checkerboard_decoder        my_transposed_decoder()
05        check_choose_on_validation        my_choose_on_validation(denoise, settings, val_noisy, val_clean)
05        check_noisy_batch                 my_noisy_batch(images, factor)
05        check_classical_denoiser          my_denoise_without_training(noisy)
06        check_threshold                   my_threshold(in_scores, rate)
06        check_precision_recall            my_precision_recall(in_scores, out_scores, threshold)
06        check_detector                    my_detector(train_scores, val_scores, test_scores,
                                            outlier_scores, rate)
========  ================================  =================================
"""

from .autoencoder import (check_choose_k, check_equal_budget, check_find_code, check_pca_reconstruct,
                          check_per_image_mse, check_train_step)
from .conv import check_checkerboard_decoder, check_conv_output_size, check_sigmoid_gradient
from .denoising import check_choose_on_validation, check_classical_denoiser, check_noisy_batch
from .uses import check_detector, check_precision_recall, check_threshold
from .vae import check_beta_kl_prediction, check_kl_divergence, check_reparameterize, check_vae_loss

__all__ = [
    "check_beta_kl_prediction", "check_checkerboard_decoder", "check_choose_k", "check_choose_on_validation",
    "check_classical_denoiser", "check_conv_output_size", "check_detector", "check_equal_budget", "check_find_code",
    "check_kl_divergence", "check_noisy_batch", "check_pca_reconstruct", "check_per_image_mse",
    "check_precision_recall", "check_reparameterize", "check_sigmoid_gradient", "check_threshold",
    "check_train_step", "check_vae_loss",
]
