pub mod embedded;
pub mod aws;
